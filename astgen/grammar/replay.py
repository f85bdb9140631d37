"""A plain-Python replay of the compiled automaton over one action sequence (no torch).

It follows exactly the tables the torch `Matcher` uses, one sequence at a time, and reports for
each step the symbol on top of the stack and whether the action was forced (the only action the
grammar allows there).  Used for statistics over whole corpora and as a reference in tests."""

from __future__ import annotations

from dataclasses import dataclass

from astgen.errors import GrammarError
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar

__all__ = ["Replay", "pushed", "refusal", "replay"]


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
    is_one = _ONE.get((cg.content_hash, strict))
    if is_one is None:
        is_one = _ONE[(cg.content_hash, strict)] = (cg.allowed_counts(strict) == 1).tolist()
    names = cg.symbol_names
    stack = [0, cg.start_symbol]
    tops: list[int] = []
    forced: list[bool] = []
    for i, act in enumerate(actions):
        if act == hole_id:
            tops.append(stack[-1])
            forced.append(False)
            if not names[stack[-1]].startswith("Seq("):
                stack.pop()
            continue
        top = stack.pop()
        tops.append(top)
        forced.append(is_one[top])
        push = pushed(cg, top, act)
        if push is None:
            raise GrammarError(f"step {i}: {refusal(cg, top, act)}")
        stack.extend(push)
    return Replay(tops, forced, stack[-1] if stack else 0)


# per compiled grammar: (top, action) -> the symbols it pushes (None: refused); and which symbols allow
# one action only
_MOVES: dict[str, dict[int, tuple[int, ...] | None]] = {}
_ONE: dict[tuple[str, bool], list[bool]] = {}


def pushed(cg: CompiledGrammar, top: int, act: int) -> tuple[int, ...] | None:
    """The symbols action `act` puts on the stack in place of `top` (None where the grammar refuses
    it), memoised per grammar: the step every walker of the tables (this replay, the matcher's host
    path) shares."""
    if not 0 <= act < cg.n_actions:
        return None
    moves = _MOVES.get(cg.content_hash)
    if moves is None:
        moves = _MOVES[cg.content_hash] = {}
    key = top * cg.n_actions + act
    try:
        return moves[key]
    except KeyError:
        pass
    a, ns = cg.arrays, cg.vocab.piece_base
    push: tuple[int, ...] | None
    if top >= cg.dfa_base:
        if act == END:
            push = ()
        elif act < ns:
            push = None
        else:
            nxt = int(a["kind_next"][a["sym_local"][top], act - ns])
            push = (int(a["sym_shift"][top]) + nxt if nxt >= 0 else top,)
    else:
        r = int(a["rule_table"][top, act]) if act < ns else 0
        push = tuple(int(x) for x in a["rule_push"][r, : a["rule_len"][r]]) if r else None
    moves[key] = push
    return push


def refusal(cg: CompiledGrammar, top: int, act: int) -> str:
    """Why the grammar refuses `act` with `top` on the stack (for error messages)."""
    if not 0 <= act < cg.n_actions:
        return f"{act} is not an action id"
    where = "inside" if top >= cg.dfa_base else "not allowed in"
    return f"{cg.action_name(act)} {where} {cg.symbol_names[top]}"
