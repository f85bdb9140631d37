"""Fill-in-the-middle training examples: layout, reconstruction and labels."""

from __future__ import annotations

import numpy as np
import pytest

from astgen.codec import Codec
from astgen.codec.holes import Hole, choose_window, layout

torch = pytest.importorskip("torch")

from training.fim import FimConfig, MixedBatcher, sample_holes  # noqa: E402

IDS = {"bos": 9001, "hole": 9002, "sep": 9003, "pad": 9000}


def test_choose_window_keeps_the_holes_and_the_room() -> None:
    assert choose_window(100, 40, 45, 20, 0.5) == (33, 53)
    assert choose_window(100, 2, 2, 20, 0.3) == (0, 20)  # unused prefix room goes to the suffix
    assert choose_window(100, 97, 97, 20, 0.3) == (80, 100)
    assert choose_window(100, 10, 60, 20, 0.3) is None


def test_layout_puts_answers_after_the_context() -> None:
    actions = list(range(100))
    seq = layout(actions, [Hole(10, 15, "expr"), Hole(30, 33, "list")], 200, IDS, 0.3)
    assert seq is not None
    sep = seq.index(IDS["sep"])
    ctx, answers = seq[1:sep], seq[sep + 1 :]
    assert seq[0] == IDS["bos"] and ctx.count(IDS["hole"]) == 2
    assert answers == [*range(10, 15), IDS["sep"], *range(30, 33), IDS["sep"]]
    # the context is a slice of the program with each hole cut to one token
    parts = [list(range(10, 15)), list(range(30, 33))]
    restored: list[int] = []
    for t in ctx:
        restored.extend(parts.pop(0) if t == IDS["hole"] else [t])
    assert restored == actions[restored[0] : restored[0] + len(restored)]
    assert len(seq) <= 200


def _doc_with_spans(codec: Codec, source: str) -> tuple[np.ndarray, dict, np.ndarray]:
    ids, rec = codec.encode_spans(source)
    spans = np.asarray(rec.spans, dtype=np.uint32).reshape(-1, 4)
    spans = spans[np.lexsort((spans[:, 0], spans[:, 3], spans[:, 2]))]
    counts = np.bincount(spans[:, 2].astype(np.int64), minlength=4).tolist()
    doc = {"offset": 0, "length": len(ids), "span_offset": 0, "span_counts": counts}
    return np.asarray(ids, dtype=np.uint16), {"documents": [doc]}, spans


SOURCE = (
    "import os\n\ndef f(a, b=2):\n    x = g(a, b, *a)\n    if x:\n        return [y for y in x]\n"
    "    return x + 1\n\nclass C:\n\n    def m(self):\n        return os.sep\n"
)


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_sampled_holes_are_recorded_subtrees(codec: Codec, kind: int) -> None:
    stream, info, spans = _doc_with_spans(codec, SOURCE)
    rng = np.random.default_rng(kind)
    for _ in range(10):
        holes = sample_holes(info["documents"][0], spans, rng, FimConfig(extra_holes=0.0), kind=kind)
        assert len(holes) == 1
        h = holes[0]
        assert h.kind == ("expr" if kind == 0 else "list")
        starts = {int(s) for s in spans[:, 0]}
        assert h.start in starts and 0 < h.end - h.start


def test_batches_are_deterministic_and_labelled(codec: Codec) -> None:
    stream, info, spans = _doc_with_spans(codec, SOURCE)
    stream = np.concatenate([stream] * 4)  # long enough for plain windows of 64
    batcher = MixedBatcher(stream, info, spans, 64, 8, IDS, seed=0, fim=FimConfig(rate=0.5, max_hole=32))
    tokens, labels = batcher.batch(5)
    again, _ = batcher.batch(5)
    assert torch.equal(tokens, again) and tokens.shape == (8, 65)
    pad = tokens == IDS["pad"]
    assert bool((labels[pad] == -100).all()) and bool((labels[:, :2] == -100).all())
    assert bool((labels[~pad][labels[~pad] != -100] == tokens[~pad][labels[~pad] != -100]).all())
    fim_rows = [r for r in tokens.tolist() if IDS["hole"] in r]
    assert fim_rows, "rate 0.5 over 8 rows gives FIM examples"
    for r in fim_rows:
        assert r.count(IDS["sep"]) == r.count(IDS["hole"]) + 1
