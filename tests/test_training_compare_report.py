"""The comparison report reads how a run was trained from its recorded options."""

from __future__ import annotations

import pytest

from training.compare_report import name_refs_of


@pytest.mark.parametrize(
    ("options", "refs"),
    [
        ("--data data --tree-features --name-refs 64 --threads 1", 64),
        ("--data data --name-refs 8", 8),
        ("--data data --tree-features --threads 1", 0),
        ("", 0),
    ],
)
def test_name_refs_is_read_from_the_training_options(options: str, refs: int) -> None:
    assert name_refs_of(options) == refs
