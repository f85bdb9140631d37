"""Names as references (issue 14): a name already spelled in the model's context costs one token.

The model reads and writes *model sequences*: grammar actions, the model-only tokens, and `slots`
reference tokens.  An identifier terminal (a variable, parameter, attribute, keyword or definition
name) whose pieces equal those of a name in the row's `NameTable` is written as `<ref k>`, k its slot
in the table, instead of its pieces and `<end>`.  The table lists the identifier names of the model's
own context, most recently used first (a use, spelled or referenced, moves a name to the front); only
the first `slots` entries can be referenced.  Because the table is built from what the model sees,
left to right, training (`compress` over each example) and decoding (the decoder keeps one table per
row) agree without any other state; `expand` turns a model sequence back into grammar actions.

Where a token is "inside an identifier terminal" comes from the tree-state ids (`astgen.features`):
token i is spelled inside one when the state after token i - 1 is an identifier terminal's.  A run of
such tokens is a name when the token before it is not a piece (so a window that starts inside a name
never turns that partial name into a reference) and it ends with `<end>` inside the sequence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from astgen.errors import GrammarError
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import pushed, refusal

__all__ = ["Compressed", "NameRefs", "NameTable", "identifier_states"]

_TABLE_CAP = 4096  # names a table remembers (only the first `slots` can be referenced)


def identifier_states(cg: CompiledGrammar) -> frozenset[int]:
    """The tree-state ids (`astgen.features`) of identifier terminals."""
    kinds = list(cg.meta["terminal_kinds"])  # type: ignore[call-overload]
    return frozenset(cg.dfa_base + i for i, k in enumerate(kinds) if k == "identifier")


class NameTable:
    """Names (piece-id tuples) most recently used first; `slot` is a name's referable index or -1."""

    def __init__(self, slots: int):
        self.slots = slots
        self.names: list[tuple[int, ...]] = []

    def slot(self, name: tuple[int, ...]) -> int:
        try:
            i = self.names.index(name, 0, self.slots)
        except ValueError:
            return -1
        return i

    def name(self, slot: int) -> tuple[int, ...] | None:
        return self.names[slot] if 0 <= slot < min(self.slots, len(self.names)) else None

    def use(self, name: tuple[int, ...]) -> None:
        """`name` was just written (spelled or referenced): it moves to the front."""
        try:
            self.names.remove(name)
        except ValueError:
            if len(self.names) >= _TABLE_CAP:
                self.names.pop()
        self.names.insert(0, name)

    def copy(self) -> NameTable:
        other = NameTable(self.slots)
        other.names = list(self.names)
        return other


@dataclass(frozen=True)
class Compressed:
    """A model sequence with its states and, per token, the index of the last input token it stands
    for (`len(input)` for the tokens of a name cut off by the end of the input: they are not a
    complete name, and a later window scores that name whole)."""

    tokens: list[int]
    states: list[int]
    last: list[int]
    table: NameTable


@dataclass(frozen=True)
class NameRefs:
    """The reference layout of one model: `slots` reference tokens from id `ref_base` on."""

    slots: int
    ref_base: int
    piece_base: int
    n_actions: int
    ident: frozenset[int]

    @classmethod
    def for_model(cls, cg: CompiledGrammar, ref_base: int, slots: int) -> NameRefs:
        return cls(slots, ref_base, cg.vocab.piece_base, cg.n_actions, identifier_states(cg))

    def is_piece(self, token: int) -> bool:
        return self.piece_base <= token < self.n_actions

    def is_ref(self, token: int) -> bool:
        return self.ref_base <= token < self.ref_base + self.slots

    def compress(self, tokens: Sequence[int], states: Sequence[int], table: NameTable | None = None) -> Compressed:
        """Replace each complete name of `tokens` that is in the table by its reference.  `states[i]` is
        the tree-state id after token i (as the model is fed them); a reference keeps its `<end>`'s."""
        table = table if table is not None else NameTable(self.slots)
        out: list[int] = []
        out_states: list[int] = []
        last: list[int] = []
        n = len(tokens)
        i = 0
        while i < n:
            inside = i > 0 and states[i - 1] in self.ident
            if inside and self.is_piece(tokens[i]) and not self.is_piece(tokens[i - 1]):
                j = i
                while j < n and tokens[j] != END and self.is_piece(tokens[j]):
                    j += 1
                if j < n and tokens[j] == END:
                    name = tuple(int(t) for t in tokens[i:j])
                    k = table.slot(name)
                    if k >= 0:
                        out.append(self.ref_base + k)
                        out_states.append(int(states[j]))
                        last.append(j)
                    else:
                        out.extend(int(t) for t in tokens[i : j + 1])
                        out_states.extend(int(s) for s in states[i : j + 1])
                        last.extend(range(i, j + 1))
                    table.use(name)
                    i = j + 1
                    continue
                # cut off by the end of the input: spelled, and not a complete name
                out.extend(int(t) for t in tokens[i:j])
                out_states.extend(int(s) for s in states[i:j])
                last.extend([n] * (j - i))
                i = j
                continue
            out.append(int(tokens[i]))
            out_states.append(int(states[i]))
            last.append(i)
            i += 1
        return Compressed(out, out_states, last, table)

    def expand(self, cg: CompiledGrammar, tokens: Sequence[int], table: NameTable | None = None) -> list[int]:
        """The grammar actions of a model sequence of one program's actions (no model-only tokens):
        references replaced by their names.  Raises GrammarError at an action the grammar refuses or
        a reference to an empty slot or outside an identifier terminal."""
        table = table if table is not None else NameTable(self.slots)
        stack = [0, cg.start_symbol]
        out: list[int] = []
        spelled: list[int] = []
        prev = -1
        ident_syms = self.ident

        def state(top: int) -> int:
            return cg.dfa_base + int(cg.arrays["sym_term"][top]) if top >= cg.dfa_base else top

        for i, tok in enumerate(tokens):
            in_ident = state(stack[-1]) in ident_syms
            if self.is_ref(tok):
                name = table.name(tok - self.ref_base)
                if name is None or not in_ident or self.is_piece(prev):
                    raise GrammarError(f"step {i}: reference {tok - self.ref_base} has no name here")
                acts = [*name, END]
            else:
                acts = [int(tok)]
            for a in acts:
                top = stack.pop()
                push = pushed(cg, top, a)
                if push is None:
                    raise GrammarError(f"step {i}: {refusal(cg, top, a)}")
                stack.extend(push)
                if state(top) in ident_syms and (a == END or self.is_piece(a)):
                    if a == END:
                        if spelled and not self.is_ref(tok):
                            table.use(tuple(spelled))
                        spelled = []
                    elif not self.is_ref(tok) and (spelled or not self.is_piece(prev)):
                        spelled.append(a)
                out.append(a)
            if self.is_ref(tok):
                table.use(name)  # type: ignore[arg-type]
            prev = tok
        return out
