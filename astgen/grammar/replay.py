"""A plain-Python replay of the compiled automaton over one action sequence (no torch).

It follows exactly the tables the torch `Matcher` uses, one sequence at a time, and reports for
each step the symbol on top of the stack and whether the action was forced (the only action the
grammar allows there).  Used for statistics over whole corpora and as a reference in tests."""

from __future__ import annotations

from dataclasses import dataclass

from astgen.errors import GrammarError
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar

__all__ = ["Replay", "replay"]


@dataclass(frozen=True)
class Replay:
    """Per-step top symbols and forced flags of one action sequence, and the top after its last step
    (0 once the program is complete)."""

    tops: list[int]
    forced: list[bool]
    end: int = 0

    @property
    def n_forced(self) -> int:
        return sum(self.forced)

    @property
    def n_visible(self) -> int:
        return len(self.forced) - self.n_forced


def replay(cg: CompiledGrammar, actions: list[int], strict: bool = False, hole_id: int | None = None) -> Replay:
    """Run `actions` through the automaton; raises GrammarError at the first disallowed action.

    With `hole_id`, that token stands for a hole: one finished subtree, or list elements when the top
    is a list (the list stays open); it is never forced."""
    a = cg.arrays
    rule_table, rule_push, rule_len = a["rule_table"], a["rule_push"], a["rule_len"]
    kind_next, sym_local, sym_shift = a["kind_next"], a["sym_local"], a["sym_shift"]
    counts = cg.allowed_counts(strict)
    ns = cg.vocab.piece_base
    dfa_base = cg.dfa_base
    stack = [0, cg.start_symbol]
    tops: list[int] = []
    forced: list[bool] = []
    for i, act in enumerate(actions):
        if act == hole_id:
            tops.append(stack[-1])
            forced.append(False)
            if not cg.symbol_names[stack[-1]].startswith("Seq("):
                stack.pop()
            continue
        top = stack.pop()
        tops.append(top)
        forced.append(bool(counts[top] == 1))
        if top >= dfa_base:
            if act == END:
                continue
            if act < ns:
                raise GrammarError(f"step {i}: {cg.action_name(act)} inside {cg.symbol_names[top]}")
            nxt = int(kind_next[sym_local[top], act - ns])
            stack.append(int(sym_shift[top]) + nxt if nxt >= 0 else top)
            continue
        r = int(rule_table[top, act]) if act < ns else 0
        if r == 0:
            raise GrammarError(f"step {i}: {cg.action_name(act)} not allowed in {cg.symbol_names[top]}")
        stack.extend(int(x) for x in rule_push[r, : rule_len[r]])
    return Replay(tops, forced, stack[-1] if stack else 0)
