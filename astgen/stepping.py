"""Stepping a causal LM with a KV cache over ragged batches: the one model loop of every decoder.

Each call feeds every row the tokens it has not yet shown the model (any number, zero included),
right-padded into one batch; the attention mask and per-row positions make the padding invisible,
so rows advance independently.  The AST decoder feeds a row's forced actions and its next real step
together (forced-action prefill); the token baseline feeds one token per row per step.

`make_stepper` picks the lean forward (`astgen.lean`: same logits, a preallocated cache, a fraction of
the time) for the Llama architecture astgen trains, and `KVStepper` over the transformers forward for
anything else or when asked (`lean=False`, e.g. to measure the difference)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

from astgen.lean import LeanLlama, lean_of

__all__ = ["KVStepper", "LeanStepper", "make_stepper", "model_device", "model_vocab_size"]


class KVStepper:
    """A model, its KV cache and each row's position; `feed` returns the logits after each row's last token."""

    def __init__(self, model: Any, batch_size: int, pad_id: int):
        from transformers import DynamicCache

        self.device = next(model.parameters()).device
        self.batch_size, self.pad_id = batch_size, pad_id
        inner = getattr(model, "model", None)
        head = model.get_output_embeddings()
        # the backbone + the head at each row's last position only (a full-vocabulary head over every
        # prefilled position is most of the cost of a call); a model without that split runs whole
        split = inner is not None and head is not None
        self.inner: Any = inner if split else None
        self.head: Any = head if split else None
        self.model = model
        from astgen.model import state_embedding

        emb = state_embedding(model)  # tree-state features (astgen.features), or None
        self.states = emb.to(self.device) if emb is not None else None  # (the model may have moved since)
        runner = self.inner if self.inner is not None else model
        # transformers 5.24 renamed `past_key_values` to `cache`; older versions only know the former
        self.cache_kw = "cache" if "cache" in inspect.signature(runner.forward).parameters else "past_key_values"
        self.cache = DynamicCache()
        self.attn = torch.zeros(batch_size, 0, dtype=torch.long, device=self.device)
        self.positions = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        self.logits: torch.Tensor | None = None

    def feed(self, chunks: Sequence[Sequence[int]], states: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """Run each row's new tokens through the model in one call; [B, V] float logits after each
        row's last token so far (a row fed nothing keeps the logits it had).  A tree-state model also
        gets each token's state id (`astgen.features`), `states` shaped like `chunks`."""
        b, dev = self.batch_size, self.device
        lens = [len(c) for c in chunks]
        width = max(lens)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        new = torch.zeros(b, width, dtype=torch.long)
        for r, chunk in enumerate(chunks):
            if chunk:
                ids[r, : len(chunk)] = torch.tensor(list(chunk), dtype=torch.long)
                new[r, : len(chunk)] = 1
        ids, new = ids.to(dev), new.to(dev)
        embeds = None
        if self.states is not None:
            if states is None:
                raise ValueError("this model reads tree-state features: pass `states` with the tokens")
            sid = torch.zeros(b, width, dtype=torch.long)
            for r, row in enumerate(states):
                if row:
                    sid[r, : len(row)] = torch.tensor(list(row), dtype=torch.long)
            embeds = self.model.get_input_embeddings()(ids) + self.states(sid.to(dev))
        self.attn = torch.cat([self.attn, new], dim=1)
        pos = self.positions.unsqueeze(1) + torch.arange(width, device=dev).unsqueeze(0)
        lens_t = torch.tensor(lens, device=dev)
        last = (lens_t - 1).clamp(min=0)
        rows = torch.arange(b, device=dev)
        kw: dict[str, Any] = {"attention_mask": self.attn, "position_ids": pos, "use_cache": True}
        kw.update({"input_ids": ids} if embeds is None else {"inputs_embeds": embeds})
        kw[self.cache_kw] = self.cache
        if self.inner is not None and self.head is not None:
            hidden = self.inner(**kw).last_hidden_state
            fresh = self.head(hidden[rows, last]).float()
        else:
            fresh = self.model(**kw).logits[rows, last].float()
        has_new = (lens_t > 0).unsqueeze(1)
        self.logits = fresh if self.logits is None else torch.where(has_new, fresh, self.logits)
        self.positions = self.positions + lens_t
        return self.logits

    def retire(self, rows: Sequence[int]) -> None:
        """Rows that will not be fed again (finished holes); this stepper keeps computing them."""


def _padded(chunks: Sequence[Sequence[int]], width: int, fill: int) -> torch.Tensor:
    """[B, width] long: each chunk right-padded with `fill`."""
    return torch.tensor([[*c, *([fill] * (width - len(c)))] for c in chunks], dtype=torch.long)


class LeanStepper:
    """`KVStepper`'s interface over `astgen.lean.LeanLlama`: positions and lengths kept on the host,
    keys written at each row's own positions (no padding in the cache, no growing attention mask).
    Rows `retire`d (finished holes) leave the cache once they are a quarter of the rows it holds, so
    a long batch's last steps compute only the rows still decoding."""

    def __init__(self, lean: LeanLlama, batch_size: int, pad_id: int):
        self.lean, self.batch_size, self.pad_id = lean, batch_size, pad_id
        self.device = lean.device
        self.states = lean.states  # not None: the model reads tree-state ids
        self.cache = lean.new_cache(batch_size)
        self.pos = [0] * batch_size
        self.logits: torch.Tensor | None = None
        self.held = list(range(batch_size))  # the rows in the cache, in its order
        self.retired: set[int] = set()

    def feed(self, chunks: Sequence[Sequence[int]], states: Sequence[Sequence[int]] | None = None) -> torch.Tensor:
        """As `KVStepper.feed`: [B, V] float logits after each row's last token so far."""
        if self.states is not None and states is None:
            raise ValueError("this model reads tree-state features: pass `states` with the tokens")
        held = self.held
        if len(held) < self.batch_size:
            if any(chunks[r] for r in self.retired):
                raise ValueError("a retired row was fed again")
            chunks = [chunks[r] for r in held]
            states = [states[r] for r in held] if states is not None else None
        lens = [len(c) for c in chunks]
        width = max(lens)
        if width == 0 and self.logits is not None:
            return self.logits
        width = max(width, 1)
        dev = self.device
        ids = _padded(chunks, width, self.pad_id).to(dev)
        sid = _padded(states, width, 0).to(dev) if self.states is not None and states is not None else None
        pos = [self.pos[r] for r in held]
        uniform = width == 1 and min(pos) == max(pos)
        last = torch.tensor([max(n - 1, 0) for n in lens], dtype=torch.long, device=dev)
        with torch.no_grad():
            fresh = self.lean.forward(
                ids, sid, torch.tensor(pos, dtype=torch.long, device=dev), last, self.cache, max(pos) + width, uniform
            )
        if len(held) < self.batch_size and self.logits is not None:
            idx = torch.tensor(held, dtype=torch.long, device=dev)
            has_new = torch.tensor([n > 0 for n in lens], device=dev).unsqueeze(1)
            self.logits = self.logits.index_copy(0, idx, torch.where(has_new, fresh, self.logits[idx]))
        elif self.logits is None or min(lens) > 0:
            self.logits = fresh
        else:
            has_new = torch.tensor([n > 0 for n in lens], device=dev).unsqueeze(1)
            self.logits = torch.where(has_new, fresh, self.logits)
        for r, n in zip(held, lens):
            self.pos[r] += n
        return self.logits

    def retire(self, rows: Sequence[int]) -> None:
        """Rows that will not be fed again (finished holes): their logits stay as they are, and once
        they are a quarter of the rows in the cache the cache keeps only the others."""
        self.retired.update(rows)
        keep = [i for i, r in enumerate(self.held) if r not in self.retired]
        if keep and (len(self.held) - len(keep)) * 4 >= len(self.held):
            self.cache.keep_rows(torch.tensor(keep, dtype=torch.long, device=self.device))
            self.held = [self.held[i] for i in keep]


def make_stepper(model: Any, batch_size: int, pad_id: int, lean: bool = True) -> KVStepper | LeanStepper:
    """The stepper for `model`: the lean forward where it runs this architecture (and `lean`), else
    the transformers one."""
    fast = lean_of(model) if lean else None
    if fast is not None:
        return LeanStepper(fast, batch_size, pad_id)
    if isinstance(model, LeanLlama):
        raise ValueError("a LeanLlama has no transformers forward: pass its transformers model for lean=False")
    return KVStepper(model, batch_size, pad_id)


def model_device(model: Any) -> torch.device:
    """The device of a decoder model (a transformers module or a LeanLlama)."""
    if isinstance(model, LeanLlama):
        return model.device
    return next(model.parameters()).device  # type: ignore[no-any-return]


def model_vocab_size(model: Any) -> int:
    """How many logits a decoder model gives per position."""
    if isinstance(model, LeanLlama):
        return model.vocab_size
    return int(model.get_output_embeddings().weight.shape[0])
