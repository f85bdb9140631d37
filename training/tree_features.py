"""Tree-position features for the ablation of issue 14: each input action also carries the grammar
state the *next* action is chosen in (the nonterminal being expanded, with its context flags, or the
terminal being spelled), as an extra embedding added to the action embedding.

The state is a function of the actions so far (the matcher knows it at every decoding step), so the
model may read it without seeing the future.  Ids: grammar symbols below `dfa_base` keep their id;
a terminal automaton state maps to `dfa_base + terminal index` (which terminal is being spelled, not
how far); `<bos>`, `<hole>` and `<sep>` get three ids of their own after those.

    states = StreamStates(compiled, stream, info)           # states[a:b], per document on first use
    model = StateFeatureLM(llama, n_state_ids(compiled))    # forward(input_ids, states=...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import replay

__all__ = ["StateFeatureLM", "StreamStates", "document_states", "n_state_ids", "special_state_ids"]

STATE_FILE = "state_embedding.safetensors"  # the state embedding, next to the model's own files


def _n_terminals(cg: CompiledGrammar) -> int:
    return int(cg.arrays["sym_term"].max()) + 1


def n_state_ids(cg: CompiledGrammar) -> int:
    """Size of the state vocabulary: grammar symbols, terminals, three specials."""
    return cg.dfa_base + _n_terminals(cg) + 3


def special_state_ids(cg: CompiledGrammar) -> dict[str, int]:
    """State ids of the model-only tokens, keyed as `astgen.codec.holes.layout` keys them."""
    base = cg.dfa_base + _n_terminals(cg)
    return {"bos": base, "hole": base + 1, "sep": base + 2}


def document_states(cg: CompiledGrammar, actions: list[int]) -> np.ndarray:
    """Per action of one document, the state id after it (the start symbol after its final <eos>)."""
    tops = np.array(replay(cg, actions).tops[1:] + [cg.start_symbol], dtype=np.int64)
    term = cg.arrays["sym_term"]
    return np.where(tops >= cg.dfa_base, cg.dfa_base + term[tops], tops).astype(np.uint16)


class StreamStates:
    """`document_states` for every action of an encoded split, computed per document when first sliced
    (a full replay of a 65M-action training split would take many minutes; training reads a small part)."""

    def __init__(self, cg: CompiledGrammar, stream: np.ndarray, info: dict[str, Any]):
        self.cg, self.stream = cg, stream
        docs = info["documents"]
        self.offsets = np.array([int(d["offset"]) for d in docs], dtype=np.int64)
        self.lengths = np.array([int(d["length"]) for d in docs], dtype=np.int64)
        self._done: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.stream)

    def _doc(self, k: int) -> np.ndarray:
        hit = self._done.get(k)
        if hit is None:
            off, n = int(self.offsets[k]), int(self.lengths[k])
            hit = self._done[k] = document_states(self.cg, self.stream[off : off + n].tolist())
        return hit

    def __getitem__(self, where: slice) -> np.ndarray:
        lo, hi, _ = where.indices(len(self.stream))
        parts = []
        k = max(0, int(np.searchsorted(self.offsets, lo, side="right")) - 1)
        while lo < hi:
            off = int(self.offsets[k])
            end = off + int(self.lengths[k])
            parts.append(self._doc(k)[lo - off : min(hi, end) - off])
            lo, k = min(hi, end), k + 1
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)


class StateFeatureLM(nn.Module):
    """A causal LM whose input embedding is the action's plus its state's (see the module docstring)."""

    def __init__(self, lm: nn.Module, n_states: int):
        super().__init__()
        self.lm = lm
        emb = lm.get_input_embeddings()
        self.states = nn.Embedding(n_states, emb.embedding_dim)
        nn.init.normal_(self.states.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        embeds = self.lm.get_input_embeddings()(input_ids) + self.states(states)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask)

    def save_states(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({"weight": self.states.weight.detach().cpu().contiguous()}, str(folder / STATE_FILE))

    def load_states(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.states.weight.data.copy_(load_file(str(folder / STATE_FILE))["weight"])
