"""The grammar mask as a `transformers` LogitsProcessor, so `model.generate()` stays valid too.

    gen = astgen.load()                  # the shipped checkpoint
    compiled, config = gen.compiled, gen.config
    proc = GrammarLogitsProcessor(compiled, config, max_actions=300)
    bos = torch.tensor([[config.bos_id]])
    out = gen.model.generate(input_ids=bos, logits_processor=LogitsProcessorList([proc]),
                             max_new_tokens=300, eos_token_id=config.eos_id, pad_token_id=config.pad_id)

(`astgen.compiled_default.default_compiled()` and `ModelConfig.load(folder)` give the same two for
any checkpoint folder.)  The processor keeps a `Matcher` for the batch: on the first call it replays
each row's prompt (the actions after its last `<bos>`), then it advances by the tokens generate()
appended since the previous call.  A call whose ids do not extend the ones it saw last (a new
generate() call: another batch size, a shorter or a different prefix) starts over from its prompt, so
reusing one processor is safe; `reset()` does the same explicitly.  astgen's own decoder
(`astgen.decoding`) is faster: it skips the model for forced actions; this processor exists for
compatibility with the transformers ecosystem.  Only grammar actions pass the mask: with a checkpoint
that has name references (`ModelConfig.name_refs`) every name is spelled here, since a reference
needs the decoder's per-row name table (`astgen.decoding`)."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from astgen.grammar.compiled import CompiledGrammar
from astgen.matcher import Matcher, MatcherConfig
from astgen.model import ModelConfig

__all__ = ["GrammarLogitsProcessor"]


class GrammarLogitsProcessor(LogitsProcessor):
    """Sets the scores of every token the grammar does not allow next to -inf."""

    def __init__(
        self, compiled: CompiledGrammar, config: ModelConfig, max_actions: int | None = None, strict: bool = True
    ):
        if config.n_actions != compiled.n_actions:
            raise ValueError(f"the model has {config.n_actions} actions, the grammar {compiled.n_actions}")
        self.compiled, self.config = compiled, config
        self.matcher_config = MatcherConfig(strict=strict, max_actions=max_actions)
        self.matcher: Matcher | None = None
        self.seen = 0
        self._ids: torch.Tensor | None = None  # the ids of the last call

    def reset(self) -> None:
        """Forget the batch (a call whose ids do not extend the last ones does this by itself)."""
        self.matcher = None
        self.seen = 0
        self._ids = None

    def _continues(self, input_ids: torch.Tensor) -> bool:
        """Whether `input_ids` extend the ids of the last call (the same generation, one step on)."""
        last = self._ids
        return (
            last is not None
            and input_ids.shape[0] == last.shape[0]
            and input_ids.shape[1] > last.shape[1]
            and torch.equal(input_ids[:, : last.shape[1]], last)
        )

    def _prompt_actions(self, row: list[int]) -> list[int]:
        bos = self.config.bos_id
        start = max((i + 1 for i, t in enumerate(row) if t == bos), default=0)
        actions = row[start:]
        if any(t >= self.config.n_actions for t in actions):
            raise ValueError("a prompt for the grammar processor must be <bos> followed by grammar actions only")
        return actions

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = self.config.n_actions
        if self.matcher is None or not self._continues(input_ids):
            rows = [self._prompt_actions(r) for r in input_ids.tolist()]
            self.matcher = Matcher.replayed(self.compiled, rows, scores.device, self.matcher_config)
            if self.matcher_config.max_actions is not None:
                self.matcher.set_limit(self.matcher.steps + self.matcher_config.max_actions)
        else:
            for col in input_ids[:, self.seen :].T:
                # tokens after a finished tree (padding) are not actions: <eos> keeps a finished tree as it is
                self.matcher.advance(torch.where(col < n, col, torch.zeros_like(col)))
        self.seen = input_ids.shape[1]
        self._ids = input_ids.clone()
        allowed = self.matcher.mask()
        full = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
        full[:, :n] = allowed
        return scores.masked_fill(~full, float("-inf"))  # type: ignore[return-value]
