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
    return np.array(context_states(cg, actions), dtype=np.uint16)


def context_states(cg: CompiledGrammar, tokens: Sequence[int], hole_id: int | None = None) -> list[int]:
    """Per token of a program, possibly with holes (`hole_id` where a hole's subtree or statements
    would be; see `replay`), the state id after it, as `document_states` gives it for the complete
    program; a hole token gets the `<hole>` id.  Raises GrammarError if the tokens leave the grammar."""
    r = replay(cg, list(tokens), hole_id=hole_id)
    end = r.end or cg.start_symbol  # after <eos>: the next document's start
    after = np.array([*r.tops[1:], end], dtype=np.int64)
    hole_state = special_state_ids(cg)["hole"]
    ids = state_ids_of(cg, after).tolist()
    return [hole_state if t == hole_id else int(s) for t, s in zip(tokens, ids)]
