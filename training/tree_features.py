"""Tree-state features in training (issue 14): each input action also carries the grammar state the
*next* action is chosen in (`astgen.features` defines the ids), as an embedding added to the action's.

    states = StreamStates(compiled, stream, info)           # states[a:b], per document on first use
    model = StateFeatureLM(llama, n_state_ids(compiled))    # forward(input_ids, states=...)

The state embedding is saved next to the model as `astgen.features.STATE_FILE`; `astgen.model.load_checkpoint`
attaches it to the model it loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astgen.features import STATE_FILE, document_states
from astgen.grammar.compiled import CompiledGrammar

__all__ = ["StateFeatureLM", "StreamStates"]


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

    def __init__(self, lm: nn.Module, n_states: int, states: nn.Embedding | None = None):
        super().__init__()
        self.lm = lm
        if states is None:  # a new one; `states`: a loaded model's (astgen.model.state_embedding)
            states = nn.Embedding(n_states, lm.get_input_embeddings().embedding_dim)
            nn.init.normal_(states.weight, std=0.02)
        self.states = states

    def forward(self, input_ids: torch.Tensor, states: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
        embeds = self.lm.get_input_embeddings()(input_ids) + self.states(states)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask)

    def save_states(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({"weight": self.states.weight.detach().cpu().contiguous()}, str(folder / STATE_FILE))

    def load_states(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.states.weight.data.copy_(load_file(str(folder / STATE_FILE))["weight"])
