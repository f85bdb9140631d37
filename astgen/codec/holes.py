"""Holes, in one place: their kinds, the marker names, the fill-in-the-middle layout, programs with
holes and the decoding task of each hole (no torch).

A hole in source is the Ellipsis literal `...`: as a whole statement it stands for one or more
statements, anywhere else for one expression (the refactoring tool writes holes as marker names
`__astgen_hole_<k>__` so that the file and the model agree on which hole is which).  A
`HoledProgram` is the program's action sequence with one `<hole>` token per hole; filling holes one
after another (each with the earlier ones filled and the later ones still visible as `<hole>`) is
what training's multi-hole examples teach.

The layout shared by training and decoding: the model sees a window of the program around the holes
being filled, then `<sep>`, then each hole's actions followed by `<sep>`:

    <bos> ctx[ws:we] <sep> hole-1 <sep> hole-2 <sep> ...

A hole of kind `EXPR` stands for one subtree (it ends when that subtree is complete); `LIST` for one
or more consecutive elements of a list (statements, call arguments), ending when the model emits
`<sep>` between elements; `ONE` for exactly one element (a generated top-level function)."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from astgen.codec.actions import HOLE_CTOR
from astgen.codec.gnode import GNode, GValue
from astgen.codec.hole_scope import HoleContext, hole_contexts
from astgen.codec.hole_select import is_ellipsis, select_holes
from astgen.codec.lower import lower
from astgen.codec.markers import MARKER, marker_name
from astgen.codec.source import parse_source
from astgen.errors import NoHoleError

if TYPE_CHECKING:
    from astgen.codec import Codec

__all__ = [
    "EXPR",
    "HOLE_KINDS",
    "HOLE_ROOM",
    "LIST",
    "ONE",
    "SUFFIX_SHARE",
    "Hole",
    "HoleTask",
    "HoledProgram",
    "choose_window",
    "holed_program",
    "layout",
    "no_hole_error",
    "program_from_spans",
    "prompt_window",
]

EXPR, LIST, ONE = "expr", "list", "one"
HOLE_KINDS = (EXPR, LIST, ONE)

_MARKER_BYTES = re.compile(MARKER.pattern.encode())

# the model window left for context when a hole may grow long (the rest is the hole itself)
HOLE_ROOM = 128
SUFFIX_SHARE = 0.3


@dataclass(frozen=True)
class HoleTask:
    """One hole of one program: the actions before it (for the matcher), the model's prompt, the
    hole kind, optionally the only actions allowed first (e.g. function definitions), and what the
    fill must leave unchanged around it (`astgen.codec.hole_scope`)."""

    prefix: list[int]
    prompt: list[int]
    kind: str
    first: tuple[int, ...] | None = None
    context: HoleContext = HoleContext()
    window_start: int = 0  # where in the program the prompt's context begins (prompt[1] is token window_start)

    def __post_init__(self) -> None:
        if self.kind not in HOLE_KINDS:
            raise ValueError(f"hole kind must be one of {HOLE_KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class Hole:
    """Actions [start, end) of a program cut out as a hole of `kind` (`EXPR` or `LIST`)."""

    start: int
    end: int
    kind: str


def choose_window(n: int, first: int, last: int, room: int, suffix_share: float) -> tuple[int, int] | None:
    """A window [ws, we) of a length-n token list that contains positions first..last and at most
    `room` tokens: `suffix_share` of the spare room goes after `last`, the rest before `first`
    (unused room on one side goes to the other).  None if first..last alone does not fit."""
    need = last - first + 1
    spare = room - need
    if spare < 0:
        return None
    after = n - last - 1
    suffix = min(after, int(spare * suffix_share))
    prefix = min(first, spare - suffix)
    suffix = min(after, spare - prefix)
    return first - prefix, last + 1 + suffix


def prompt_window(n: int, pos: int, context: int, max_answer: int) -> tuple[int, int]:
    """The window [ws, we) of a length-n program shown to a model of `context` positions when it
    fills the hole at `pos` with at most `max_answer` units: `HOLE_ROOM` (or less) is kept for the
    answer, `SUFFIX_SHARE` of the rest goes after the hole."""
    window = choose_window(n, pos, pos, context - 3 - min(max_answer, HOLE_ROOM), SUFFIX_SHARE)
    if window is None:  # cannot happen for a window that fits a hole at all
        raise ValueError(f"context {context} leaves no room for the code around a hole")
    return window


def layout(
    actions: Sequence[int],
    holes: Sequence[Hole],
    total: int,
    ids: Mapping[str, int],
    suffix_share: float,
    with_answers: bool = True,
) -> list[int] | None:
    """The training sequence for `holes` cut out of `actions` (at most `total` tokens), or None if
    the holes and their answers do not fit.  `ids` maps "bos", "hole", "sep" to token ids.  Without
    answers the sequence ends at the first `<sep>` (decoding reserves the room for answers itself)."""
    ctx: list[int] = []
    positions: list[int] = []
    answers: list[int] = []
    prev = 0
    for h in holes:
        ctx.extend(actions[prev : h.start])
        positions.append(len(ctx))
        ctx.append(ids["hole"])
        answers.extend(actions[h.start : h.end])
        answers.append(ids["sep"])
        prev = h.end
    ctx.extend(actions[prev:])
    room = total - 2 - (len(answers) if with_answers else 0)
    window = choose_window(len(ctx), positions[0], positions[-1], room, suffix_share)
    if window is None:
        return None
    ws, we = window
    out = [ids["bos"], *ctx[ws:we], ids["sep"]]
    if with_answers:
        out.extend(answers)
    return out


@dataclass(frozen=True)
class HoledProgram:
    """Actions with `hole_id` at each hole; `kinds[k]` is one of `HOLE_KINDS` for hole k."""

    tokens: tuple[int, ...]
    kinds: tuple[str, ...]
    hole_id: int
    first: tuple[tuple[int, ...] | None, ...] = ()
    symbols: tuple[str, ...] = ()  # the grammar symbol each hole stands for (when encoded from source)
    order: tuple[int, ...] = ()  # each hole's marker index (-1: none), when encoded with markers
    contexts: tuple[HoleContext, ...] = ()  # what each hole's fill must keep (when encoded from source)

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

    def task(
        self, k: int, answers: Sequence[Sequence[int]], context: int, max_actions: int, bos_id: int, sep_id: int
    ) -> HoleTask:
        """The decoding task of hole k, given the actions of holes 0..k-1, for a model window of
        `context` positions and holes of at most `max_actions` actions."""
        ctx = self.filled(answers[:k])
        pos = [i for i, t in enumerate(ctx) if t == self.hole_id][0]
        ws, we = prompt_window(len(ctx), pos, context, max_actions)
        first = self.first[k] if self.first else None
        rules = self.contexts[k] if self.contexts else HoleContext()
        return HoleTask(ctx[:pos], [bos_id, *ctx[ws:we], sep_id], self.kinds[k], first, rules, ws)


def _is_hole(value: GValue, markers: bool) -> tuple[bool, bytes | None]:
    """(is it a hole, its index) for an expression node: `...`, or with markers a marker name."""
    if not isinstance(value, GNode):
        return False, None
    if markers:
        ident = value.fields.get("id")
        match = _MARKER_BYTES.fullmatch(ident) if value.ctor == "Name" and isinstance(ident, bytes) else None
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
            return _hole_node(b"stmt", index)
    hole, index = _is_hole(value, markers)
    if hole:
        return _hole_node(b"expr", index)
    return GNode(value.ctor, {k: _mark_holes(v, markers) for k, v in value.fields.items()})


def holed_program(
    codec: Codec,
    source: str,
    hole_id: int,
    filename: str = "<source>",
    append_hole: tuple[int, ...] | None = None,
    mark_ellipsis: bool = True,
    markers: bool = False,
    all_holes: bool = False,
    generators: Collection[int] = (),
) -> HoledProgram:
    """Encode `source` with its holes (SourceSyntaxError if it does not parse, NoHoleError if it has
    none): the `...` that `select_holes` picks (every one with `all_holes`), or with `markers` the
    marker names already in the source.  `append_hole` adds one more hole after the last top-level
    statement that must be exactly one statement starting with one of the given actions (`generate`).
    `generators` lists the marker holes whose fill must keep their function a generator (`hole_contexts`)."""
    module = parse_source(source, filename)
    ellipses = 0
    if mark_ellipsis and not markers:  # the chosen `...` become marker names; idiomatic ones stay `...`
        ellipses = sum(1 for n in ast.walk(module) if is_ellipsis(n))
        module = _to_markers(module, select_holes(module, source, filename, all_holes))
        markers = True
    contexts = hole_contexts(module, generators) if markers else {}
    tree = lower(module, frozenset(marker_name(k) for k in generators))
    if markers:  # the module node itself is never a hole: mark inside its fields
        tree = GNode(tree.ctor, {k: _mark_holes(v, markers) for k, v in tree.fields.items()})
    if append_hole is not None:
        body = tree.fields.get("body")
        items = list(body) if isinstance(body, list) else []
        tree = GNode(tree.ctor, {**tree.fields, "body": [*items, _hole_node(b"stmt", None)]})
    tokens, rec = codec.encode_grammar_tree(tree, filename, hole_token=hole_id)
    if not rec.holes:
        raise no_hole_error(filename, ellipses)
    kinds: list[str] = []
    for _, symbol, _ in rec.holes:
        sym = codec.grammar.symbol(symbol)
        kinds.append(LIST if getattr(sym, "base", "") == "stmt" else EXPR)
    first: list[tuple[int, ...] | None] = [None] * len(kinds)
    if append_hole is not None:
        kinds[-1] = ONE
        first[-1] = append_hole
    symbols = tuple(symbol for _, symbol, _ in rec.holes)
    order = tuple(index for _, _, index in rec.holes)
    keeps = tuple(contexts.get(index, HoleContext()) for index in order)
    return HoledProgram(tuple(tokens), tuple(kinds), hole_id, tuple(first), symbols, order, keeps)


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


def no_hole_error(filename: str, idiomatic: int = 0) -> NoHoleError:
    """The error for a source without holes; `idiomatic` counts the `...` it has that are not holes."""
    if idiomatic:
        return NoHoleError(
            f"{filename}: no hole to fill: its {idiomatic} `...` are idiomatic (annotations, subscripts, defaults, "
            "stubs, protocols, .pyi); mark a hole with `# astgen: fill` or fill every `...` anyway (--all-holes)"
        )
    return NoHoleError(f"{filename}: no hole to fill; write `...` where code should be generated")


class _Markers(ast.NodeTransformer):
    """Replaces the chosen nodes (by identity) by marker names `__astgen_hole_<k>__`, k in source order."""

    def __init__(self, chosen: list[ast.expr]):
        self.index = {id(n): k for k, n in enumerate(chosen)}

    def visit_Constant(self, node: ast.Constant) -> ast.expr:
        k = self.index.get(id(node))
        return node if k is None else ast.copy_location(ast.Name(id=marker_name(k), ctx=ast.Load()), node)


def _to_markers(module: ast.Module, chosen: list[ast.expr]) -> ast.Module:
    return _Markers(chosen).visit(module) if chosen else module


def _hole_node(kind: bytes, index: bytes | None) -> GNode:
    return GNode(HOLE_CTOR, {"kind": kind, **({"index": index} if index is not None else {})})
