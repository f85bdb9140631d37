"""An adversarial model for decoding tests: a real (tiny) model pushed hard towards one planned fill.

`scripted_generator(gen, holed, planned)` returns a Generator whose model, while it fills the one hole
of `holed`, adds a large bias to the logit of the next action of `planned` (the same source with the
hole written out).  Where the mask allows the plan the fill follows it exactly; where a rule of the
decoder forbids a step, the fill must go elsewhere.  So a test can show both that the plan is
reachable without a rule and that the rule stops it."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from astgen.codec.holes import holed_program
from astgen.decoding import DecodeConfig
from astgen.generator import Generator

__all__ = ["planned_actions", "scripted_generator"]

BIAS = 1e4


def planned_actions(gen: Generator, holed: str, planned: str) -> list[int]:
    """The actions of the one hole of `holed` that turn it into `planned`, then `<sep>`."""
    program = holed_program(gen.codec, holed, gen.config.hole_id)
    tokens = list(program.tokens)
    (pos,) = [i for i, t in enumerate(tokens) if t == gen.config.hole_id]
    full = gen.codec.encode(planned)
    suffix = tokens[pos + 1 :]
    if full[:pos] != tokens[:pos] or full[len(full) - len(suffix) :] != suffix:
        raise ValueError("the planned source differs from the holed one outside the hole")
    return [*full[pos : len(full) - len(suffix)], gen.config.sep_id]


class _Inner(torch.nn.Module):
    """The backbone; remembers each row's position of its last token fed (for the head)."""

    def __init__(self, inner: Any, owner: _Scripted):
        super().__init__()
        self.inner = inner
        self.owner = [owner]  # a list: not a submodule
        params = inspect.signature(inner.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"

    def forward(self, cache: Any = None, **kw: Any) -> Any:
        ids, attn, pos = kw["input_ids"], kw["attention_mask"], kw["position_ids"]
        lens = attn[:, -ids.shape[1] :].sum(1)
        rows = torch.arange(ids.shape[0])
        self.owner[0].last_pos = (pos[rows, (lens - 1).clamp(min=0)]).tolist()
        return self.inner(**{**kw, self.cache_kw: cache})


class _Head(torch.nn.Module):
    def __init__(self, head: Any, owner: _Scripted):
        super().__init__()
        self.head = head
        self.owner = [owner]

    @property
    def weight(self) -> torch.Tensor:  # the decoder reads the vocabulary size from it
        return self.head.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).clone()
        owner = self.owner[0]
        for row, p in enumerate(owner.last_pos):
            i = p + 1 - owner.prompt_len
            if 0 <= i < len(owner.plan):
                logits[row, owner.plan[i]] += BIAS
        return logits


class _Scripted(torch.nn.Module):
    def __init__(self, real: Any, prompt_len: int, plan: list[int]):
        super().__init__()
        self.prompt_len, self.plan = prompt_len, plan
        self.last_pos: list[int] = []
        self.model = _Inner(real.model, self)
        self.lm_head = _Head(real.get_output_embeddings(), self)

    def get_output_embeddings(self) -> Any:
        return self.lm_head


def scripted_generator(gen: Generator, holed: str, planned: str, max_actions: int = 64) -> Generator:
    """`gen`'s model pushed towards filling the one hole of `holed` as in `planned`."""
    plan = planned_actions(gen, holed, planned)
    program = holed_program(gen.codec, holed, gen.config.hole_id)
    cfg = DecodeConfig(max_actions=max_actions)
    task = program.task(0, [], cfg.context, cfg.max_actions, gen.config.bos_id, gen.config.sep_id)
    model = _Scripted(gen.model, len(task.prompt), plan)
    return Generator(model, gen.config, gen.compiled, gen.codec)
