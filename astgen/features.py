"""Tree-state features: for each position of a model input, the grammar state the next action is
chosen in (torch-free; the model adds an embedding of it to the action's, see `astgen.model`).

A state id is the grammar symbol on top of the matcher's stack — a nonterminal with its context
flags, a list or optional wrapper, a scope marker — or, inside a terminal, which terminal is being
spelled (`dfa_base + terminal index`, not how far).  `<bos>`, `<hole>` and `<sep>` have ids of their
own.  Training (training/tree_features.py) lays the states of whole documents out exactly like their
actions; the decoder computes the same ids for its prompt (`context_states`, which steps over holes)
and takes the matcher's top after each action it generates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from astgen.errors import GrammarError
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import replay

__all__ = [
    "STATE_FILE",
    "context_states",
    "document_states",
    "n_state_ids",
    "special_state_ids",
    "state_ids_of",
]

# the state embedding's weights, next to a checkpoint's model.safetensors (absent: no state features)
STATE_FILE = "state_embedding.safetensors"


def _n_terminals(cg: CompiledGrammar) -> int:
    return int(cg.arrays["sym_term"].max()) + 1


def n_state_ids(cg: CompiledGrammar) -> int:
    """Size of the state vocabulary: grammar symbols, terminals, three specials."""
    return cg.dfa_base + _n_terminals(cg) + 3


def special_state_ids(cg: CompiledGrammar) -> dict[str, int]:
    """State ids of the model-only tokens, keyed as `astgen.codec.holes.layout` keys them."""
    base = cg.dfa_base + _n_terminals(cg)
    return {"bos": base, "hole": base + 1, "sep": base + 2}


def state_ids_of(cg: CompiledGrammar, symbols: np.ndarray) -> np.ndarray:
    """State ids of stack symbols (elementwise)."""
    symbols = np.asarray(symbols, dtype=np.int64)
    term = cg.arrays["sym_term"][np.maximum(symbols, 0)]
    return np.where(symbols >= cg.dfa_base, cg.dfa_base + term, symbols)


def document_states(cg: CompiledGrammar, actions: Sequence[int]) -> np.ndarray:
    """Per action of one complete document, the state id after it (the start symbol after <eos>)."""
    tops = np.array(replay(cg, list(actions)).tops[1:] + [cg.start_symbol], dtype=np.int64)
    return state_ids_of(cg, tops).astype(np.uint16)


def context_states(cg: CompiledGrammar, tokens: Sequence[int], hole_id: int) -> list[int]:
    """Per token of a program with holes (`hole_id` where a hole's subtree or statements would be), the
    state id after it, as `document_states` gives it for the complete program: a hole token gets the
    `<hole>` id and stands for one finished subtree, or for list elements (the list stays open).
    Raises GrammarError if the tokens leave the grammar."""
    a = cg.arrays
    rule_table, rule_push, rule_len = a["rule_table"], a["rule_push"], a["rule_len"]
    kind_next, sym_local, sym_shift = a["kind_next"], a["sym_local"], a["sym_shift"]
    ns, dfa_base, names = cg.vocab.piece_base, cg.dfa_base, cg.symbol_names
    hole_state = special_state_ids(cg)["hole"]
    stack = [0, cg.start_symbol]
    tops: list[int] = []
    for i, act in enumerate(tokens):
        if act == hole_id:
            if not names[stack[-1]].startswith("Seq("):  # a list's elements: the list stays open
                stack.pop()
            tops.append(-1)
            continue
        top = stack.pop()
        if top >= dfa_base:
            if act != END:
                if act < ns:
                    raise GrammarError(f"token {i}: {cg.action_name(act)} inside {names[top]}")
                nxt = int(kind_next[sym_local[top], act - ns])
                stack.append(int(sym_shift[top]) + nxt if nxt >= 0 else top)
        else:
            r = int(rule_table[top, act]) if 0 <= act < ns else 0
            if r == 0:
                raise GrammarError(f"token {i}: {cg.action_name(act)} not allowed in {names[top]}")
            stack.extend(int(x) for x in rule_push[r, : rule_len[r]])
        tops.append(stack[-1] if top != 0 else cg.start_symbol)  # after <eos>: the next document's start
    ids = state_ids_of(cg, np.array([max(t, 0) for t in tops], dtype=np.int64)).tolist()
    return [hole_state if t < 0 else int(s) for t, s in zip(tops, ids)]
