"""The ablation's variants differ from each other only in their input layout (training.ablate)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from training.ablate import SCHEDULE, VARIANTS  # noqa: E402
from training.train import parse_args  # noqa: E402

LAYOUT = ("tree_features", "name_refs")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_ablate_variant_changes_only_the_layout(name: str) -> None:
    base, _ = parse_args(list(SCHEDULE))
    args, _ = parse_args([*SCHEDULE, *VARIANTS[name]])
    changed = {k for k, v in args.to_dict().items() if v != base.to_dict()[k]}
    assert changed <= set(LAYOUT)
    assert args.tree_features == ("tree" in name.split("-"))
    assert (args.name_refs > 0) == ("refs" in name.split("-"))
    assert args.steps * args.batch_size * args.seq_len >= 2_000_000  # the medium budget
