"""Lexical automata for terminal classes: byte-level DFAs, lifted over the piece vocabulary.

Each terminal kind is a small deterministic automaton over bytes, built by exploring a step
function.  They describe what strict sampling may spell (a sound subset where needed: sampled
identifiers are ASCII, strings inside f-string replacement fields avoid quotes, backslashes and
`#`), while the codec accepts any value.  Lifting runs every piece through the byte table from
every state at once (numpy), giving the piece-level transition table the matcher uses."""

from __future__ import annotations
import __future__

import keyword
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from astgen.errors import GrammarError

__all__ = ["FEXPR_SAFE", "SURROGATE_LEAD", "TEXT_KINDS", "ByteDFA", "PieceDFA", "build_kind", "lift"]

# the UTF-8 lead byte of U+D000-U+DFFF; followed by 0xA0-0xBF it encodes a lone surrogate, which a str
# may hold but Python 3.13's compile() rejects in a docstring
SURROGATE_LEAD = 0xED
TEXT_KINDS = ("utf8", "utf8_nonempty")  # the terminal kinds that spell (surrogate-passing) UTF-8 text

_ID_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_ID_CONT = _ID_START | frozenset(b"0123456789")
_DIGITS = frozenset(b"0123456789")
# bytes a string inside a 3.11 f-string replacement field may hold (canonical quoting keeps it parseable)
FEXPR_SAFE = frozenset(range(0x20, 0x7F)) - frozenset(b"'\"\\#{}")
_SPEC = frozenset(range(0x20, 0x7F)) - frozenset(b"'\"\\{}")
FUTURE_FEATURES = tuple(f for f in __future__.all_feature_names if f != "barry_as_FLUFL")


@dataclass(frozen=True)
class ByteDFA:
    """table[state, byte] -> next state or -1; state 0 is the start."""

    table: np.ndarray
    accept: np.ndarray


@dataclass(frozen=True)
class PieceDFA:
    """next[state, piece] -> next state or -1, restricted to states reachable from 0 by pieces."""

    next: np.ndarray
    accept: np.ndarray


def _explore(start: Any, step: Callable[[Any, int], Hashable | None], accept: Callable[[Any], bool]) -> ByteDFA:
    index = {start: 0}
    order = [start]
    rows: list[list[int]] = []
    i = 0
    while i < len(order):
        state = order[i]
        row = []
        for b in range(256):
            nxt = step(state, b)
            if nxt is None:
                row.append(-1)
                continue
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            row.append(index[nxt])
        rows.append(row)
        i += 1
    return ByteDFA(np.array(rows, dtype=np.int32), np.array([accept(s) for s in order], dtype=bool))


def _word_step(words: frozenset[str], prefix: str | None, b: int) -> str | None:
    """Track whether the current word is still a prefix of an excluded word."""
    if prefix is None:
        return None
    nxt = prefix + chr(b)
    return nxt if any(w.startswith(nxt) for w in words) else None


def _identifier(excluded: frozenset[str], dotted: bool) -> ByteDFA:
    words = frozenset(keyword.kwlist) | excluded
    # state: ("start" | "in", prefix-or-None)
    start = ("start", "")

    def step(state: Any, b: int) -> Hashable | None:
        phase, prefix = state
        if phase == "start":
            return ("in", _word_step(words, prefix, b)) if b in _ID_START else None
        if b in _ID_CONT:
            return ("in", _word_step(words, prefix, b))
        if dotted and b == ord(".") and prefix not in words:
            return ("start", "")
        return None

    def accept(state: Any) -> bool:
        phase, prefix = state
        return bool(phase == "in" and prefix not in words)

    return _explore(start, step, accept)


def _finite(words: Sequence[str]) -> ByteDFA:
    def step(state: Hashable, b: int) -> Hashable | None:
        nxt = str(state) + chr(b)
        return nxt if any(w.startswith(nxt) for w in words) else None

    return _explore("", step, lambda s: s in words)


def _int() -> ByteDFA:
    def step(state: Hashable, b: int) -> Hashable | None:
        if state == "start":
            return "zero" if b == ord("0") else ("num" if b in _DIGITS else None)
        if state == "num" and b in _DIGITS:
            return "num"
        return None

    return _explore("start", step, lambda s: s in ("zero", "num"))


def _float() -> ByteDFA:
    trans = {
        ("start", "DIGIT"): "int",
        ("start", "i"): "i",
        ("i", "n"): "in",
        ("in", "f"): "inf",
        ("int", "DIGIT"): "int",
        ("int", "."): "dot",
        ("dot", "DIGIT"): "frac",
        ("frac", "DIGIT"): "frac",
        ("int", "e"): "e",
        ("frac", "e"): "e",
        ("e", "SIGN"): "esign",
        ("esign", "DIGIT"): "exp",
        ("exp", "DIGIT"): "exp",
    }

    def step(state: Hashable, b: int) -> Hashable | None:
        c = chr(b)
        cls = "DIGIT" if b in _DIGITS else ("SIGN" if c in "+-" else c)
        return trans.get((str(state), cls))

    return _explore("start", step, lambda s: s in ("int", "frac", "exp", "inf"))


def _utf8(min_len: int) -> ByteDFA:
    """Well-formed UTF-8 (surrogates allowed: str values are encoded with surrogatepass).  The state
    after a 0xED lead byte is kept apart (its continuations 0xA0-0xBF are the surrogates, which a
    target version may ban: `SURROGATE_LEAD`)."""

    def step(state: Any, b: int) -> Hashable | None:
        count, need, lo, hi, _ = state
        if need == 0:
            c = min(count + 1, min_len)
            if b < 0x80:
                return (c, 0, 0x80, 0xBF, False)
            if 0xC2 <= b <= 0xDF:
                return (c, 1, 0x80, 0xBF, False)
            if 0xE0 <= b <= 0xEF:
                return (c, 2, 0xA0 if b == 0xE0 else 0x80, 0xBF, b == SURROGATE_LEAD)
            if 0xF0 <= b <= 0xF4:
                return (c, 3, 0x90 if b == 0xF0 else 0x80, 0x8F if b == 0xF4 else 0xBF, False)
            return None
        if lo <= b <= hi:
            return (count, need - 1, 0x80, 0xBF, False)
        return None

    start = (0, 0, 0x80, 0xBF, False)
    return _explore(start, step, lambda s: s[1] == 0 and s[0] >= min_len)  # type: ignore[index]


def _charset(allowed: frozenset[int], min_len: int) -> ByteDFA:
    def step(state: Hashable, b: int) -> Hashable | None:
        return min(int(state) + 1, min_len) if b in allowed else None  # type: ignore[call-overload]

    return _explore(0, step, lambda s: int(s) >= min_len)  # type: ignore[call-overload]


def build_kind(kind: str, exclude: tuple[str, ...] = ()) -> ByteDFA:
    """The byte automaton of a terminal kind named in the grammar file."""
    ex = frozenset(exclude)
    builders: dict[str, Callable[[], ByteDFA]] = {
        "identifier": lambda: _identifier(ex, dotted=False),
        "dotted": lambda: _identifier(ex, dotted=True),
        "future": lambda: _finite(FUTURE_FEATURES),
        "int": _int,
        "float": _float,
        "utf8": lambda: _utf8(0),
        "utf8_nonempty": lambda: _utf8(1),
        "fexpr_text": lambda: _charset(FEXPR_SAFE, 0),
        "fexpr_text_nonempty": lambda: _charset(FEXPR_SAFE, 1),
        "fspec_text": lambda: _charset(_SPEC, 1),
        "bytes": lambda: _charset(frozenset(range(256)), 0),
        "fexpr_bytes": lambda: _charset(FEXPR_SAFE, 0),
    }
    if kind not in builders:
        raise GrammarError(f"unknown terminal kind {kind!r}")
    return builders[kind]()


def lift(dfa: ByteDFA, pieces: Sequence[bytes]) -> PieceDFA:
    """Run every piece from every state; keep states reachable from the start by whole pieces."""
    n = dfa.table.shape[0]
    lengths = np.array([len(p) for p in pieces])
    width = int(lengths.max())
    data = np.zeros((len(pieces), width), dtype=np.int64)
    for i, p in enumerate(pieces):
        data[i, : len(p)] = list(p)
    table = np.vstack([dfa.table, np.full((1, 256), n, dtype=np.int32)])  # row n: dead sink
    cur = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, len(pieces))).copy()
    for j in range(width):
        active = j < lengths
        stepped = table[cur, data[None, :, j]]
        stepped = np.where(stepped < 0, n, stepped)
        cur = np.where(active[None, :], stepped, cur)
    nxt = np.where(cur >= n, -1, cur)
    # reachability by pieces from the start
    seen = {0}
    frontier = [0]
    while frontier:
        s = frontier.pop()
        for t in np.unique(nxt[s][nxt[s] >= 0]).tolist():
            if t not in seen:
                seen.add(t)
                frontier.append(t)
    keep = sorted(seen)
    remap = np.full(n + 1, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    lifted = remap[np.where(nxt < 0, n, nxt)[keep]]
    return PieceDFA(lifted.astype(np.int32), dfa.accept[keep].copy())
