"""Programs with holes: from source with `...` holes (or from action spans) to decoding tasks and back.

A hole in source is the Ellipsis literal `...`: as a whole statement it stands for one or more
statements, anywhere else for one expression.  A `HoledProgram` is the program's action sequence
with one hole token per hole; filling holes one after another (each with the earlier ones filled
and the later ones still visible as `<hole>`) is what training's multi-hole examples teach."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from astgen.codec import Codec, parse_source
from astgen.codec.actions import HOLE_CTOR, SpanRecorder
from astgen.codec.gnode import GNode, GValue
from astgen.codec.lower import lower
from astgen.decoding import DecodeConfig, HoleTask
from astgen.errors import GrammarError, NoHoleError
from astgen.infill_layout import Hole, choose_window

__all__ = ["HOLE_ROOM", "SUFFIX_SHARE", "HoledProgram", "holed_program", "program_from_spans"]

# the model window left for context when a hole may grow long (the rest is the hole itself)
HOLE_ROOM = 128
SUFFIX_SHARE = 0.3


@dataclass(frozen=True)
class HoledProgram:
    """Actions with `hole_id` at each hole; `kinds[k]` is "expr", "list" or "one" for hole k."""

    tokens: tuple[int, ...]
    kinds: tuple[str, ...]
    hole_id: int
    first: tuple[tuple[int, ...] | None, ...] = ()
    symbols: tuple[str, ...] = ()  # the grammar symbol each hole stands for (when encoded from source)
    order: tuple[int, ...] = ()  # each hole's marker index (-1: none), when encoded with markers

    @property
    def n_holes(self) -> int:
        return len(self.kinds)

    def positions(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t == self.hole_id]

    def filled(self, answers: Sequence[Sequence[int]]) -> list[int]:
        """The tokens with the first len(answers) holes replaced by their actions."""
        out: list[int] = []
        k = 0
        for t in self.tokens:
            if t == self.hole_id and k < len(answers):
                out.extend(answers[k])
                k += 1
            else:
                out.append(t)
        return out

    def task(self, k: int, answers: Sequence[Sequence[int]], cfg: DecodeConfig, bos_id: int, sep_id: int) -> HoleTask:
        """The decoding task of hole k, given the actions of holes 0..k-1."""
        ctx = self.filled(answers[:k])
        pos = [i for i, t in enumerate(ctx) if t == self.hole_id][0]
        room = cfg.context - 3 - min(cfg.max_actions, HOLE_ROOM)
        window = choose_window(len(ctx), pos, pos, room, SUFFIX_SHARE)
        if window is None:  # cannot happen: one position always fits a positive room
            raise ValueError(f"context {cfg.context} leaves no room for the code around a hole")
        ws, we = window
        first = self.first[k] if self.first else None
        return HoleTask(ctx[:pos], [bos_id, *ctx[ws:we], sep_id], self.kinds[k], first)


HOLE_MARKER = re.compile(rb"__astgen_hole_(\d+)__")


def _is_hole(value: GValue, markers: bool) -> tuple[bool, bytes | None]:
    """(is it a hole, its index) for an expression node: `...`, or with markers a marker name."""
    if not isinstance(value, GNode):
        return False, None
    if markers:
        ident = value.fields.get("id")
        match = HOLE_MARKER.fullmatch(ident) if value.ctor == "Name" and isinstance(ident, bytes) else None
        return (True, match.group(1)) if match else (False, None)
    return value.ctor == "Ellipsis", None


def _mark_holes(value: GValue, markers: bool = False) -> GValue:
    """Replace `...` statements by statement holes and other `...` by expression holes (with
    `markers`, the names `__astgen_hole_<k>__` instead, keeping k as the hole's index)."""
    if isinstance(value, list):
        return [_mark_holes(v, markers) for v in value]
    if not isinstance(value, GNode):
        return value
    if value.ctor == "Expr":
        hole, index = _is_hole(value.fields.get("value"), markers)
        if hole:
            return GNode(HOLE_CTOR, {"kind": b"stmt", **({"index": index} if index is not None else {})})
    hole, index = _is_hole(value, markers)
    if hole:
        return GNode(HOLE_CTOR, {"kind": b"expr", **({"index": index} if index is not None else {})})
    return GNode(value.ctor, {k: _mark_holes(v, markers) for k, v in value.fields.items()})


def holed_program(
    codec: Codec,
    source: str,
    hole_id: int,
    filename: str = "<source>",
    append_hole: tuple[int, ...] | None = None,
    mark_ellipsis: bool = True,
    markers: bool = False,
) -> HoledProgram:
    """Encode `source` with its `...` holes (SourceSyntaxError if it does not parse, NoHoleError if
    it has no hole).  `append_hole` adds one more hole after the last top-level statement that must
    be exactly one statement starting with one of the given actions (used by `generate`)."""
    tree = lower(parse_source(source, filename))
    if mark_ellipsis or markers:
        tree = _mark_holes(tree, markers)  # type: ignore[assignment]
    if append_hole is not None:
        body = tree.fields.get("body")
        items = list(body) if isinstance(body, list) else []
        tree = GNode(tree.ctor, {**tree.fields, "body": [*items, GNode(HOLE_CTOR, {"kind": b"stmt"})]})
    rec = SpanRecorder([], [])
    try:
        tokens = codec.actions.encode(tree, spans=rec, hole_token=hole_id)  # type: ignore[arg-type]
    except GrammarError as e:
        raise GrammarError(f"{filename}: {e}") from None
    if not rec.holes:
        raise NoHoleError(f"{filename}: no hole to fill; write `...` where code should be generated")
    kinds: list[str] = []
    for _, symbol, _ in rec.holes:
        sym = codec.grammar.symbol(symbol)
        kinds.append("list" if getattr(sym, "base", "") == "stmt" else "expr")
    first: list[tuple[int, ...] | None] = [None] * len(kinds)
    if append_hole is not None:
        kinds[-1] = "one"
        first[-1] = append_hole
    symbols = tuple(symbol for _, symbol, _ in rec.holes)
    order = tuple(index for _, _, index in rec.holes)
    return HoledProgram(tuple(tokens), tuple(kinds), hole_id, tuple(first), symbols, order)


def program_from_spans(actions: Sequence[int], holes: Sequence[Hole], hole_id: int) -> HoledProgram:
    """Cut `holes` (sorted, disjoint action spans) out of a complete action sequence."""
    tokens: list[int] = []
    prev = 0
    for h in holes:
        if h.start < prev or h.end <= h.start or h.end > len(actions):
            raise ValueError(f"holes must be sorted, disjoint and inside the program: {h}")
        tokens.extend(actions[prev : h.start])
        tokens.append(hole_id)
        prev = h.end
    tokens.extend(actions[prev:])
    return HoledProgram(tuple(tokens), tuple(h.kind for h in holes), hole_id)
