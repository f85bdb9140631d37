"""Terminal automata: byte DFAs accept exactly the lexically valid spellings; lifting to pieces agrees."""

from __future__ import annotations

import keyword

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astgen.grammar.lexical import ByteDFA, build_kind, lift


def accepts(dfa: ByteDFA, text: bytes) -> bool:
    s = 0
    for b in text:
        s = int(dfa.table[s, b])
        if s < 0:
            return False
    return bool(dfa.accept[s])


@pytest.mark.parametrize(
    ("kind", "exclude", "good", "bad"),
    [
        (
            "identifier",
            (),
            [b"x", b"_a1", b"match", b"case", b"__debug__", b"iff", b"Nonex"],
            [b"", b"1a", b"if", b"None", b"a-b", b"a.b"],
        ),
        ("identifier", ("__debug__",), [b"__debug", b"__debug__x"], [b"__debug__", b"class"]),
        ("identifier", ("_", "__debug__"), [b"__", b"_x"], [b"_"]),
        (
            "dotted",
            ("__debug__", "__future__"),
            [b"os.path", b"a", b"__future__x"],
            [b"__future__", b"a.", b".a", b"a..b", b"a.if"],
        ),
        ("int", (), [b"0", b"7", b"12345678901234567890"], [b"", b"01", b"1_0", b"0x1", b"-1"]),
        (
            "float",
            (),
            [b"1.5", b"1e+16", b"1.5e-07", b"inf", b"0.0", b"12"],
            [b"", b".5", b"1.", b"1e5", b"nan", b"in"],
        ),
        (
            "utf8",
            (),
            [b"", "é€😀".encode(), "\ud800".encode("utf-8", "surrogatepass")],
            [b"\xff", b"\xc3", b"\xc0\x80", b"\xe0\x80\x80"],
        ),
        ("utf8_nonempty", (), [b"a"], [b""]),
        ("fexpr_text", (), [b"", b"abc def", b"a:b!c"], [b"'", b'"', b"\\", b"#", b"{", b"\n", "é".encode()]),
        ("fspec_text", (), [b">10", b"#x", b".3f"], [b"", b"{", b"'", b"\\"]),
        ("future", (), [b"annotations", b"division"], [b"braces", b"barry_as_FLUFL", b"annotation"]),
    ],
)
def test_byte_dfa_accepts_exactly(kind: str, exclude: tuple[str, ...], good: list[bytes], bad: list[bytes]) -> None:
    dfa = build_kind(kind, exclude)
    for text in good:
        assert accepts(dfa, text), text
    for text in bad:
        assert not accepts(dfa, text), text


def test_identifier_dfa_rejects_every_keyword() -> None:
    dfa = build_kind("identifier")
    for kw in keyword.kwlist:
        assert not accepts(dfa, kw.encode())
        assert accepts(dfa, kw.encode() + b"_")


PIECES = [bytes([b]) for b in range(256)] + [
    b"ab",
    b"if",
    b"1.",
    b"e+",
    b"__",
    b"de",
    b"bug__",
    b"\xc3\xa9",
    b"\xe2\x82",
]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from(range(len(PIECES))), max_size=8),
    st.sampled_from(["identifier", "float", "utf8", "dotted"]),
)
def test_lifted_automaton_agrees_with_bytes(seq: list[int], kind: str) -> None:
    dfa = build_kind(kind, ("__debug__",) if kind != "float" and kind != "utf8" else ())
    lifted = lift(dfa, PIECES)
    s = 0
    for p in seq:
        s = int(lifted.next[s, p])
        if s < 0:
            break
    text = b"".join(PIECES[p] for p in seq)
    if s >= 0:
        assert bool(lifted.accept[s]) == accepts(dfa, text)
    else:  # dead after some piece: no extension of this prefix is accepted
        assert not accepts(dfa, text)


def test_lift_keeps_only_piece_reachable_states() -> None:
    dfa = build_kind("utf8")
    lifted = lift(dfa, [b"a", "é".encode()])  # whole characters only: mid-character states unreachable
    assert lifted.next.shape[0] == 1
    assert np.all(lifted.next == 0)
