"""Hole candidates recorded while encoding are whole subtrees / list runs, where the decoder's hole
rules say a hole ends (so training examples and decoding agree)."""

from __future__ import annotations

import random

import pytest

from astgen.codec import SPAN_KINDS, Codec
from astgen.grammar.compiled import CompiledGrammar
from tests.conftest import stdlib_sample

torch = pytest.importorskip("torch")

from astgen.matcher import Matcher  # noqa: E402


def _is_seq(cg: CompiledGrammar, symbol: int) -> bool:
    return symbol < cg.n_symbols and cg.symbol_names[symbol].startswith("Seq(")


@pytest.mark.parametrize("path", stdlib_sample(6, seed=3), ids=lambda p: p.name)
def test_spans_end_where_the_hole_rules_end_a_hole(path, codec: Codec, compiled: CompiledGrammar) -> None:
    ids, rec = codec.encode_spans(path.read_text(encoding="utf-8"), str(path))
    assert ids == codec.encode(path.read_text(encoding="utf-8"))
    rng = random.Random(0)
    by_kind: dict[int, list[tuple[int, int, int, int]]] = {}
    for span in rec.spans:
        by_kind.setdefault(span[2], []).append(span)
    assert 0 in by_kind and 1 in by_kind  # every real module has expressions and statements
    picked = [s for spans in by_kind.values() for s in rng.sample(spans, min(4, len(spans)))]
    before = Matcher.replayed(compiled, [ids[: s[0]] for s in picked])
    after = Matcher.replayed(compiled, [ids[: s[1]] for s in picked])
    for row, (start, end, kind, _) in enumerate(picked):
        assert 0 <= start < end <= len(ids)
        top0 = int(before.top[row])
        end_sp = int(before.sp[row]) if _is_seq(compiled, top0) else int(before.sp[row]) - 1
        assert int(after.sp[row]) == end_sp, (SPAN_KINDS[kind], start, end)
        if SPAN_KINDS[kind] in ("stmt", "body", "arg"):
            assert _is_seq(compiled, int(after.top[row]))  # between two elements of a list


def test_list_elements_of_a_group_are_contiguous(codec: Codec) -> None:
    src = "def f(a):\n    x = g(a, 1, *b)\n    y = 2\n    return x + y\n"
    ids, rec = codec.encode_spans(src)
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for start, end, kind, group in rec.spans:
        if SPAN_KINDS[kind] in ("stmt", "arg"):
            groups.setdefault((kind, group), []).append((start, end))
    sizes = sorted(len(v) for v in groups.values())
    assert sizes == [1, 3, 3]  # the module's one statement, the body's three, the call's three arguments
    for elements in groups.values():
        elements.sort()
        assert all(a[1] == b[0] for a, b in zip(elements, elements[1:]))
    bodies = [s for s in rec.spans if SPAN_KINDS[s[2]] == "body"]
    assert len(bodies) == 1 and codec.vocab.name(ids[bodies[0][0]]) == "Assign"
