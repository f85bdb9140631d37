"""Tree-position features for the ablation of issue 14: each input action also carries the grammar
state the *next* action is chosen in (the nonterminal being expanded, with its context flags, or the
terminal being spelled), as an extra embedding added to the action embedding.

The state is a function of the actions so far (the matcher knows it at every decoding step), so the
model may read it without seeing the future.  Ids: grammar symbols below `dfa_base` keep their id;
a terminal automaton state maps to `dfa_base + terminal index` (which terminal is being spelled, not
how far); `<bos>`, `<hole>` and `<sep>` get three ids of their own after those.

    states = stream_states(compiled, stream, info)          # cached next to the split's .bin
    model = StateFeatureLM(llama, n_state_ids(compiled))    # forward(input_ids, states=...)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import replay

__all__ = ["StateFeatureLM", "n_state_ids", "special_state_ids", "stream_states"]

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


def document_states(cg: CompiledGrammar, actions: list[int]) -> np.ndarray:
    """Per action of one document, the state id after it (the start symbol after its final <eos>)."""
    tops = np.array(replay(cg, actions).tops[1:] + [cg.start_symbol], dtype=np.int64)
    term = cg.arrays["sym_term"]
    return np.where(tops >= cg.dfa_base, cg.dfa_base + term[tops], tops).astype(np.uint16)


def stream_states(cg: CompiledGrammar, stream: np.ndarray, info: dict[str, Any], data_dir: str | Path) -> np.ndarray:
    """`document_states` for every document of an encoded split, cached as data/<split>.states.bin."""
    path = Path(data_dir) / f"{info['split']}.states.bin"
    meta = Path(data_dir) / f"{info['split']}.states.json"
    key = {"compiled_hash": cg.content_hash, "total_actions": int(len(stream))}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text(encoding="utf-8")) == key:
        return np.fromfile(path, dtype=np.uint16)
    out = np.zeros(len(stream), dtype=np.uint16)
    for doc in info["documents"]:
        off, n = int(doc["offset"]), int(doc["length"])
        out[off : off + n] = document_states(cg, stream[off : off + n].tolist())
    out.tofile(path)
    meta.write_text(json.dumps(key) + "\n", encoding="utf-8")
    return out


class StateFeatureLM(nn.Module):
    """A causal LM whose input embedding is the action's plus its state's (see the module docstring)."""

    def __init__(self, lm: nn.Module, n_states: int):
        super().__init__()
        self.lm = lm
        emb = lm.get_input_embeddings()
        self.states = nn.Embedding(n_states, emb.embedding_dim)
        nn.init.normal_(self.states.weight, std=0.02)

    def forward(
        self, input_ids: torch.Tensor, states: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> Any:
        embeds = self.lm.get_input_embeddings()(input_ids) + self.states(states)
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask)

    def save_states(self, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({"weight": self.states.weight.detach().cpu().contiguous()}, str(folder / STATE_FILE))

    def load_states(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.states.weight.data.copy_(load_file(str(folder / STATE_FILE))["weight"])
