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
    moves = _MOVES.get(cg.content_hash)
    if moves is None:
        moves = _MOVES[cg.content_hash] = {}
    is_one = _ONE.get((cg.content_hash, strict))
    if is_one is None:
        is_one = _ONE[(cg.content_hash, strict)] = (cg.allowed_counts(strict) == 1).tolist()
    n_actions = cg.n_actions
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
        key = top * n_actions + act
        push = moves.get(key)
        if push is None:
            push = moves[key] = _move(cg, top, act, i)
        stack.extend(push)
    return Replay(tops, forced, stack[-1] if stack else 0)


# per compiled grammar: (top, action) -> the symbols it pushes; and which symbols allow one action only
_MOVES: dict[str, dict[int, tuple[int, ...]]] = {}
_ONE: dict[tuple[str, bool], list[bool]] = {}


def _move(cg: CompiledGrammar, top: int, act: int, step: int) -> tuple[int, ...]:
    """What action `act` pushes with `top` on the stack; GrammarError (naming `step`) if refused."""
    a = cg.arrays
    ns = cg.vocab.piece_base
    if not 0 <= act < cg.n_actions:
        raise GrammarError(f"step {step}: {act} is not an action id")
    if top >= cg.dfa_base:
        if act == END:
            return ()
        if act < ns:
            raise GrammarError(f"step {step}: {cg.action_name(act)} inside {cg.symbol_names[top]}")
        nxt = int(a["kind_next"][a["sym_local"][top], act - ns])
        return (int(a["sym_shift"][top]) + nxt if nxt >= 0 else top,)
    r = int(a["rule_table"][top, act]) if act < ns else 0
    if r == 0:
        raise GrammarError(f"step {step}: {cg.action_name(act)} not allowed in {cg.symbol_names[top]}")
    return tuple(int(x) for x in a["rule_push"][r, : a["rule_len"][r]])
