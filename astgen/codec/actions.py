"""Grammar-driven translation between grammar trees (`GNode`) and action ids.

The action sequence is the pre-order walk the matcher's pushdown automaton follows:
a constructor action expands a nonterminal; `<stop>` ends a list or declines an optional;
`<more>` opens a terminal element of a list/optional; pieces spell a terminal and `<end>` closes
it; `<close>` leaves a scope (constructors marked @scope); `<eos>` ends the program."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from astgen.codec.gnode import GNode, GValue
from astgen.codec.source import deep_recursion
from astgen.errors import GrammarError
from astgen.grammar.actions import CLOSE, END, EOS, MORE, STOP, ActionVocabulary
from astgen.grammar.ir import Constructor, Grammar, Nonterminal, Segment, Terminal
from astgen.grammar.pieces import PieceVocabulary

__all__ = ["HOLE_CTOR", "SPAN_KINDS", "ActionCodec", "SpanRecorder"]

# A GNode with this constructor is a hole: the encoder emits the caller's hole token in its place.
# Its field "kind" is b"stmt" (it stands for statements) or b"expr" (for one subtree).
HOLE_CTOR = "<hole>"
# Kinds of subtrees that can be cut out as infilling holes (recorded by `SpanRecorder`):
#   expr  one expression subtree; stmt  one element of a statement list (consecutive elements of a
#   list share a group); body  all statements of a function body; arg  one positional call argument.
SPAN_KINDS = ("expr", "stmt", "body", "arg")
_EXPR_BASES = frozenset({"expr", "elt", "callarg", "slice", "slice_elt"})
_FUNCTION_CTORS = frozenset({"FunctionDef", "AsyncFunctionDef", "AsyncGenDef"})


@dataclass
class SpanRecorder:
    """Collects (start, end, kind, group) action spans of hole candidates while encoding.

    `end` is exclusive; `kind` indexes SPAN_KINDS; `group` numbers the list an element belongs to
    (so consecutive elements of one list can be cut out together); `holes` gets the position and
    expected symbol of every HOLE_CTOR node."""

    spans: list[tuple[int, int, int, int]]
    holes: list[tuple[int, str, int]]  # (position, symbol, the hole's "index" field or -1)
    _groups: int = 0
    _ctors: list[str] | None = None

    def new_group(self) -> int:
        self._groups += 1
        return self._groups - 1


class ActionCodec:
    """Encodes grammar trees to action ids and decodes them back, driven by the grammar."""

    def __init__(self, grammar: Grammar, pieces: PieceVocabulary):
        self.grammar = grammar
        self.pieces = pieces
        self.vocab = ActionVocabulary(grammar.constructor_names, pieces.pieces)
        self._ctor_ids = {n: self.vocab.ctor_id(n) for n in self.vocab.constructors}

    # ------------------------------------------------------------------ encode
    def encode(
        self,
        tree: GNode,
        on_terminal: Callable[[Terminal, bytes], None] | None = None,
        spans: SpanRecorder | None = None,
        hole_token: int = -1,
    ) -> list[int]:
        """Actions of `tree` ending with <eos>.  With `spans`, hole candidates and HOLE_CTOR nodes
        (emitted as `hole_token`) are recorded."""
        out: list[int] = []
        self._rec, self._hole_token = spans, hole_token
        if spans is not None:
            spans._ctors = []
        try:
            with deep_recursion():
                self._symbol(self.grammar.start, tree, out, on_terminal)
        finally:
            self._rec = None
        out.append(EOS)
        return out

    _rec: SpanRecorder | None = None
    _hole_token: int = -1

    def _symbol(self, name: str, value: GValue, out: list[int], cb: Callable[[Terminal, bytes], None] | None) -> None:
        sym = self.grammar.symbol(name)
        rec = self._rec
        if rec is not None and isinstance(value, GNode) and value.ctor == HOLE_CTOR:
            if isinstance(sym, Terminal):
                raise GrammarError(f"a hole cannot stand for the terminal {name}")
            index = value.fields.get("index")
            rec.holes.append((len(out), name, int(index) if isinstance(index, bytes) else -1))
            out.append(self._hole_token)
            return
        if rec is not None and isinstance(sym, Nonterminal) and sym.base in _EXPR_BASES:
            start = len(out)
            self._node(name, sym, value, out, cb)
            rec.spans.append((start, len(out), 0, 0))
            return
        self._node(name, sym, value, out, cb)

    def _node(
        self,
        name: str,
        sym: Terminal | Nonterminal,
        value: GValue,
        out: list[int],
        cb: Callable[[Terminal, bytes], None] | None,
    ) -> None:
        if isinstance(sym, Terminal):
            if not isinstance(value, bytes):
                raise GrammarError(f"{name} expects a terminal value, got {type(value).__name__}")
            if cb is not None:
                cb(sym, value)
            base = self.vocab.piece_base
            out.extend(base + p for p in self.pieces.encode(sym.pieces, value))
            out.append(END)
            return
        if not isinstance(value, GNode):
            raise GrammarError(f"{name} expects a node, got {type(value).__name__}")
        ctor = _pick_variant(sym, value)
        if ctor is None:
            raise GrammarError(f"{value.ctor} is not allowed here (in {name})")
        out.append(self._ctor_ids[ctor.name])
        rec = self._rec
        if rec is not None and rec._ctors is not None:
            rec._ctors.append(ctor.base)
        names = {f.name for f in ctor.fields}
        for key, v in value.fields.items():
            if key not in names and v not in (None, []):
                raise GrammarError(f"{value.ctor}.{key} must be empty here (in {name})")
        for f in ctor.fields:
            v = value.fields.get(f.name)
            if len(f.segments) == 1 and f.segments[0].quant != "*":
                self._segment_item(f.segments[0], v, out, cb)
                continue
            items = v if isinstance(v, list) else ([] if v is None else None)
            if items is None:
                raise GrammarError(f"{value.ctor}.{f.name} expects a list")
            counts = self._partition(f.segments, items)
            if counts is None:
                raise GrammarError(f"{value.ctor}.{f.name}: elements do not fit {name}'s rules here")
            kind, group = self._list_kind(f.segments)
            first = last = len(out)
            i = 0
            for seg, n in zip(f.segments, counts):
                if kind >= 0 and self._list_kind_of(seg.symbol) != kind:
                    first = len(out) + 1  # e.g. a module's docstring and __future__ imports: not statements here
                if seg.quant == "*":
                    for item in items[i : i + n]:
                        if self.grammar.is_terminal(seg.symbol):
                            out.append(MORE)
                        start = len(out)
                        self._symbol(seg.symbol, item, out, cb)
                        if kind >= 0 and rec is not None and self._list_kind_of(seg.symbol) == kind:
                            rec.spans.append((start, len(out), kind, group))
                    last = len(out)
                    out.append(STOP)
                else:
                    start = len(out)
                    self._segment_item(seg, items[i] if n else None, out, cb)
                    if kind >= 0 and n and rec is not None and self._list_kind_of(seg.symbol) == kind:
                        rec.spans.append((start, len(out), kind, group))
                    last = len(out)
                i += n
            if rec is not None and rec._ctors and kind == 1 and len(rec._ctors) >= 2:
                if rec._ctors[-2] in _FUNCTION_CTORS and value.ctor == "Body" and f.name == "stmts":
                    rec.spans.append((first, last, 2, group))
        out.extend([CLOSE] * len(ctor.scopes))
        if rec is not None and rec._ctors:
            rec._ctors.pop()

    def _list_kind(self, segs: tuple[Segment, ...]) -> tuple[int, int]:
        """(span kind, group) for the elements of a list field: statements and call arguments."""
        rec = self._rec
        if rec is None:
            return -1, -1
        kind = self._list_kind_of(segs[-1].symbol)
        return (kind, rec.new_group()) if kind >= 0 else (-1, -1)

    def _list_kind_of(self, symbol: str) -> int:
        sym = self.grammar.symbol(symbol)
        if isinstance(sym, Nonterminal) and sym.base == "stmt":
            return 1
        if isinstance(sym, Nonterminal) and sym.base == "callarg":
            return 3
        return -1

    def _segment_item(
        self, seg: Segment, v: GValue, out: list[int], cb: Callable[[Terminal, bytes], None] | None
    ) -> None:
        if seg.quant == "1":
            if v is None:
                raise GrammarError(f"missing required {seg.symbol}")
            self._symbol(seg.symbol, v, out, cb)
        elif v is None:
            out.append(STOP)
        else:
            if self.grammar.is_terminal(seg.symbol):
                out.append(MORE)
            self._symbol(seg.symbol, v, out, cb)

    def _fits(self, symbol: str, item: GValue) -> bool:
        sym = self.grammar.symbol(symbol)
        if isinstance(sym, Terminal):
            return isinstance(item, bytes)
        if isinstance(item, GNode) and item.ctor == HOLE_CTOR:
            # a statement hole stands for statements, an expression hole for anything else
            return (sym.base == "stmt") == (item.fields.get("kind") == b"stmt")
        return isinstance(item, GNode) and bool(sym.variants(item.ctor))

    def _partition(self, segs: tuple[Segment, ...], items: list[GValue]) -> list[int] | None:
        """Split a list over segments: earlier segments take as much as they can."""

        def rec(k: int, i: int) -> list[int] | None:
            if k == len(segs):
                return [] if i == len(items) else None
            seg = segs[k]
            limit = len(items) - i if seg.quant == "*" else 1
            j = i
            while j < len(items) and j - i < limit and self._fits(seg.symbol, items[j]):
                j += 1
            low = 1 if seg.quant == "1" else 0
            for n in range(j - i, low - 1, -1):
                rest = rec(k + 1, i + n)
                if rest is not None:
                    return [n, *rest]
            return None

        return rec(0, 0)

    # ------------------------------------------------------------------ decode
    def decode(self, actions: list[int]) -> GNode:
        it = _Reader(actions)
        with deep_recursion():
            tree = self._read_symbol(self.grammar.start, it)
        if not isinstance(tree, GNode):
            raise GrammarError("start symbol decoded to a terminal")
        if it.pos < len(actions) and actions[it.pos] != EOS:
            raise GrammarError(f"trailing actions after the program at position {it.pos}")
        return tree

    def decode_hole(self, symbol: str, statements: bool, actions: list[int]) -> list[GNode] | GNode:
        """The grammar trees of one filled hole: each statement of a statement hole, or the one
        expression of an expression hole (`symbol` as recorded by `SpanRecorder.holes`)."""
        it = _Reader(actions)
        if statements:
            out: list[GNode] = []
            while it.pos < len(actions):
                out.append(_node(self._read_symbol(symbol, it)))
            return out
        tree = _node(self._read_symbol(symbol, it))
        if it.pos != len(actions):
            raise GrammarError(f"an expression hole's actions continue after its expression (at {it.pos})")
        return tree

    def _read_symbol(self, name: str, it: _Reader) -> GValue:
        sym = self.grammar.symbol(name)
        if isinstance(sym, Terminal):
            data = bytearray()
            base = self.vocab.piece_base
            while True:
                a = it.next()
                if a == END:
                    return bytes(data)
                if a < base:
                    raise GrammarError(f"action {self.vocab.name(a)} inside terminal {name} at {it.pos - 1}")
                data += self.vocab.pieces[a - base]
        return self._read_node(sym, it.next(), it)

    def _read_node(self, nt: Nonterminal, action: int, it: _Reader) -> GNode:
        if not self.vocab.ctor_base <= action < self.vocab.piece_base:
            raise GrammarError(f"expected a constructor of {nt.name}, got {self.vocab.name(action)} at {it.pos - 1}")
        ctor = nt.constructor(self.vocab.constructors[action - self.vocab.ctor_base])
        if ctor is None:
            raise GrammarError(f"{self.vocab.name(action)} is not a constructor of {nt.name} (at {it.pos - 1})")
        fields: dict[str, GValue] = {name: None for name in ctor.elided}
        for f in ctor.fields:
            if len(f.segments) == 1 and f.segments[0].quant != "*":
                fields[f.name] = self._read_item(f.segments[0], it)
                continue
            items: list[GValue] = []
            for seg in f.segments:
                if seg.quant == "*":
                    items.extend(self._read_star(seg, it))
                else:
                    v = self._read_item(seg, it)
                    if v is not None:
                        items.append(v)
            fields[f.name] = items
        for _ in ctor.scopes:
            if it.next() != CLOSE:
                raise GrammarError(f"expected <close> after {ctor.name} at {it.pos - 1}")
        return GNode(ctor.base, fields)

    def _read_item(self, seg: Segment, it: _Reader) -> GValue:
        if seg.quant == "1":
            return self._read_symbol(seg.symbol, it)
        a = it.next()
        if a == STOP:
            return None
        sym = self.grammar.symbol(seg.symbol)
        if isinstance(sym, Terminal):
            if a != MORE:
                raise GrammarError(f"expected <more> or <stop> at {it.pos - 1}")
            return self._read_symbol(seg.symbol, it)
        return self._read_node(sym, a, it)

    def _read_star(self, seg: Segment, it: _Reader) -> Iterator[GValue]:
        while True:
            v = self._read_item(Segment(seg.symbol, "?"), it)
            if v is None:
                return
            yield v


def _pick_variant(nt: Nonterminal, value: GNode) -> Constructor | None:
    """The variant of `value.ctor` that elides exactly the elidable fields that are empty."""
    best: Constructor | None = None
    for ctor in nt.variants(value.ctor):
        if all(value.fields.get(f) in (None, []) for f in ctor.elided):
            if best is None or len(ctor.elided) > len(best.elided):
                best = ctor
    return best


def _node(value: GValue) -> GNode:
    if not isinstance(value, GNode):
        raise GrammarError(f"expected a node, got {type(value).__name__}")
    return value


class _Reader:
    def __init__(self, actions: list[int]):
        self.actions = actions
        self.pos = 0

    def next(self) -> int:
        if self.pos >= len(self.actions):
            raise GrammarError("action sequence ends before the program is complete")
        a = self.actions[self.pos]
        self.pos += 1
        return int(a)
