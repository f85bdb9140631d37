"""`astgen.features`: the decoder's states for a program with holes are the states training lays out
for the same program cut at the same places (so a model trained with them reads the same inputs)."""

from __future__ import annotations

import numpy as np
import pytest

from astgen.codec import Codec
from astgen.codec.holes import EXPR, LIST, Hole, program_from_spans
from astgen.features import context_states, document_states, special_state_ids
from astgen.grammar.compiled import CompiledGrammar
from tests.conftest import stdlib_sample

HOLE = 10**6


def _layout_states(states: np.ndarray, holes: list[Hole], hole_state: int) -> list[int]:
    out: list[int] = []
    prev = 0
    for h in holes:
        out.extend(int(x) for x in states[prev : h.start])
        out.append(hole_state)
        prev = h.end
    out.extend(int(x) for x in states[prev:])
    return out


@pytest.mark.parametrize("path", stdlib_sample(4, seed=5), ids=lambda p: p.name)
def test_context_states_step_over_holes_as_training_lays_them_out(
    path, codec: Codec, compiled: CompiledGrammar
) -> None:
    ids, rec = codec.encode_spans(path.read_text(encoding="utf-8"))
    states = document_states(compiled, ids)
    rng = np.random.default_rng(len(ids))
    kinds = {0: EXPR, 1: LIST, 2: LIST, 3: LIST}
    spans = [s for s in rec.spans if s[1] - s[0] < 200]
    checked = 0
    assert spans, "every sampled file has hole candidates"
    for k in rng.permutation(len(spans))[:40]:
        start, end, kind, _ = spans[int(k)]
        hole = Hole(start, end, kinds[kind])
        program = program_from_spans(ids, [hole], HOLE)
        got = context_states(compiled, program.tokens, HOLE)
        assert got == _layout_states(states, [hole], special_state_ids(compiled)["hole"]), (start, end, kind)
        checked += 1
    assert checked == min(40, len(spans))
