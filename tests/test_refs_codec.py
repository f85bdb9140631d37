"""Names as references (astgen.codec.refs): compress then expand gives back every action, a reference
stands only for a complete name of the model's own context, and the table is most-recent-first."""

from __future__ import annotations

from pathlib import Path

import pytest

from astgen.codec import Codec, read_source
from astgen.codec.refs import NameRefs, NameTable
from astgen.errors import GrammarError
from astgen.features import document_states
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar
from tests.conftest import stdlib_sample


def _refs(compiled: CompiledGrammar, slots: int = 64) -> NameRefs:
    return NameRefs.for_model(compiled, compiled.n_actions + 4, slots)


def _round_trip(codec: Codec, compiled: CompiledGrammar, path: Path) -> tuple[int, int]:
    ids = codec.encode(read_source(path), str(path))
    refs = _refs(compiled)
    c = refs.compress(ids, document_states(compiled, ids).tolist())
    assert refs.expand(compiled, c.tokens) == list(ids)
    assert len(c.states) == len(c.tokens) == len(c.last)
    return len(ids), len(c.tokens)


@pytest.mark.parametrize("path", stdlib_sample(8, seed=14), ids=lambda p: p.name)
def test_round_trip_is_exact_on_a_stdlib_sample(codec: Codec, compiled: CompiledGrammar, path: Path) -> None:
    actions, tokens = _round_trip(codec, compiled, path)
    assert tokens <= actions  # (a reference replaces two or more actions)


@pytest.mark.slow
@pytest.mark.parametrize("path", stdlib_sample(0), ids=lambda p: p.name)
def test_round_trip_is_exact_on_every_stdlib_file(codec: Codec, compiled: CompiledGrammar, path: Path) -> None:
    try:
        codec.encode(read_source(path), str(path))
    except Exception:  # files the codec itself rejects (Python 2 test data) are its own tests' business
        pytest.skip("not encodable")
    _round_trip(codec, compiled, path)


SOURCE = "def area(width, height):\n    size = width * height\n    return size + width\n"


def _names(codec: Codec, compiled: CompiledGrammar, refs: NameRefs, tokens: list[int]) -> list[str]:
    """The spelled names and references of a compressed program, as text."""
    c = refs.compress(tokens, document_states(compiled, tokens).tolist())
    out, word = [], b""
    pieces = compiled.vocab.pieces
    for t in c.tokens:
        if refs.is_ref(t):
            out.append(f"<ref {t - refs.ref_base}>")
        elif refs.is_piece(t):
            word += pieces[t - compiled.vocab.piece_base]
        elif t == END and word:
            out.append(word.decode())
            word = b""
    return out


def test_second_uses_become_references_most_recent_first(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = list(codec.encode(SOURCE))
    names = _names(codec, compiled, _refs(compiled), ids)
    # area width height | size <ref 2: width> <ref 2: height> | <ref 2: size> <ref 2: width>
    assert names == ["area", "width", "height", "size", "<ref 2>", "<ref 2>", "<ref 2>", "<ref 2>"]
    # with one slot only the most recent name can be referenced
    assert _names(codec, compiled, _refs(compiled, 1), ids) == [
        "area", "width", "height", "size", "width", "height", "size", "width",
    ]  # fmt: skip


def test_a_name_cut_by_the_window_is_not_referenced(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = list(codec.encode("value = 1\nvalue_b = value\nvalue_b\n"))
    states = document_states(compiled, ids).tolist()
    refs = _refs(compiled)
    full = refs.compress(ids, states)
    assert any(refs.is_ref(t) for t in full.tokens)
    # a window that starts after the first piece of a name: that partial name is spelled, not looked up
    piece_at = [i for i, t in enumerate(ids) if refs.is_piece(t) and refs.is_piece(ids[i + 1])]
    i = piece_at[0] + 1
    window = refs.compress(ids[i:], states[i:])
    assert window.tokens[0] == ids[i]
    # and a name whose `<end>` is past the end of the input is marked as not complete
    j = piece_at[-1] + 1
    cut = refs.compress(ids[:j], states[:j])
    assert cut.last[-1] == j and not refs.is_ref(cut.tokens[-1])


def test_expand_refuses_a_reference_to_an_empty_slot(codec: Codec, compiled: CompiledGrammar) -> None:
    refs = _refs(compiled)
    ids = list(codec.encode("x = 1\n"))
    first_piece = next(i for i, t in enumerate(ids) if refs.is_piece(t))
    with pytest.raises(GrammarError, match="reference 5"):
        refs.expand(compiled, [*ids[:first_piece], refs.ref_base + 5])


@pytest.mark.parametrize("slots", [1, 3])
def test_table_moves_a_used_name_to_the_front(slots: int) -> None:
    table = NameTable(slots)
    for name in [(1,), (2,), (3,)]:
        table.use(name)
    assert table.slot((3,)) == 0
    assert table.slot((1,)) == (2 if slots == 3 else -1)
    table.use((1,))
    assert table.slot((1,)) == 0 and table.name(0) == (1,)
