"""Decoding the token-level baseline: unconstrained, grammar-constrained (llguidance) or by rejection.

Three ways a token LM can be made to write code, compared against the AST model in the report:

* ``free``: plain sampling / greedy decoding, stopped at `<sep>` (infill) or at the end of the
  function (generation);
* ``grammar``: the same, with llguidance's mask for `astgen.research.python_lark` (canonical Python,
  bounded nesting) applied to the logits at every step — the end token is allowed only where the
  grammar accepts;
* ``rejection``: free decoding, then Python's own `compile` as the check; a failing row is sampled
  again (temperature 0.7, new seed) up to `retries` times.

Batched with a KV cache (`astgen.stepping.make_stepper`: ragged rows, explicit positions), so model
calls are one per generated token per batch.  `TokenDecodeStats` counts calls, tokens and the time
spent computing masks."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from astgen.decoding import sample_from_logits
from astgen.model import ModelConfig
from astgen.research.python_lark import python_grammar
from astgen.stepping import make_stepper

__all__ = ["MODES", "TokenDecodeStats", "TokenDecoder", "top_level_end"]

MODES = ("free", "grammar", "rejection")
_TOP_LEVEL = re.compile(r"\n(?=[^\s])")


def top_level_end(text: str) -> int:
    """Where a generated function ends: the first line that starts at column 0 (or the end)."""
    m = _TOP_LEVEL.search(text)
    return m.start() if m else len(text)


@dataclass
class TokenDecodeStats:
    """Counters over decode calls (model calls are batched forward passes, rows = sequences)."""

    rows: int = 0
    tokens: int = 0  # generated tokens, all rows
    model_calls: int = 0
    row_calls: int = 0  # sum over rows of the forward passes each row took part in
    steps: int = 0
    seconds: float = 0.0
    mask_seconds: float = 0.0  # llguidance: computing, unpacking and applying the masks; consuming tokens
    dead_ends: int = 0  # constrained rows where the grammar allowed no token the model could emit


class TokenDecoder:
    """A token baseline model with its tokenizer, decoding batches of prompts."""

    def __init__(self, model: Any, config: ModelConfig, tokenizer: Any, batch_size: int = 16):
        self.model, self.config, self.tokenizer = model, config, tokenizer
        self.batch_size = batch_size
        self.lean = True  # the lean forward (astgen.lean), as the AST decoder uses: same logits, same speed-up
        self.stats = TokenDecodeStats()
        self._llg_tokenizer: Any = None
        self._grammars: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ text <-> ids
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode([i for i in ids if i < self.config.n_actions and i != 0]))

    # ------------------------------------------------------------------ grammar
    def matcher(self, start: str) -> Any:
        """A fresh llguidance matcher for the grammar whose start rule is `start` (grammars are cached)."""
        import llguidance
        import llguidance.hf
        from transformers import PreTrainedTokenizerFast

        if self._llg_tokenizer is None:
            hf = PreTrainedTokenizerFast(tokenizer_object=self.tokenizer, eos_token="<eot>", pad_token="<pad>")
            self._llg_tokenizer = llguidance.hf.from_tokenizer(hf, n_vocab=self.config.vocab_size)
        if start not in self._grammars:
            self._grammars[start] = llguidance.LLMatcher.grammar_from_lark(python_grammar(start))
        m = llguidance.LLMatcher(self._llg_tokenizer, self._grammars[start])
        if m.is_error():
            raise RuntimeError(f"llguidance rejected the grammar for {start!r}: {m.get_error()[:500]}")
        return m

    # ------------------------------------------------------------------ decoding
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new: int,
        end_id: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        grammars: Sequence[str | None] | None = None,
        forced: Sequence[Sequence[int]] | None = None,
        stop: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        """New tokens for each prompt (without `end_id`), batched by `batch_size`.

        `grammars[i]` names the start rule constraining row i (None: free); `forced[i]` are prompt
        tokens the row's grammar must consume first (e.g. `def`); `stop(tokens)` ends a row early."""
        out: list[list[int]] = []
        for lo in range(0, len(prompts), self.batch_size):
            hi = lo + self.batch_size
            out.extend(
                self._generate_batch(
                    prompts[lo:hi],
                    max_new,
                    end_id,
                    temperature,
                    top_p,
                    None if seed is None else seed + lo,
                    grammars[lo:hi] if grammars is not None else [None] * len(prompts[lo:hi]),
                    forced[lo:hi] if forced is not None else [[] for _ in prompts[lo:hi]],
                    stop,
                )
            )
        return out

    def _generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        max_new: int,
        end_id: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        grammars: Sequence[str | None],
        forced: Sequence[Sequence[int]],
        stop: Callable[[list[int]], bool] | None,
    ) -> list[list[int]]:
        t0 = time.perf_counter()
        device = self.device
        b = len(prompts)
        vocab = self.config.vocab_size
        t_mask = time.perf_counter()
        matchers = [self.matcher(g) if g is not None else None for g in grammars]
        for m, toks in zip(matchers, forced):
            if m is not None:
                for t in toks:
                    if not m.consume_token(int(t)):
                        raise RuntimeError(f"the grammar rejects the forced prompt token {t}: {m.get_error()[:300]}")
        self.stats.mask_seconds += time.perf_counter() - t_mask
        generator = None
        if seed is not None and temperature > 0:
            generator = torch.Generator(device=device)
            generator.manual_seed(seed)
        stepper = make_stepper(self.model, b, self.config.pad_id, self.lean)
        out: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        bits = torch.arange(32, dtype=torch.int32)
        constrained = any(m is not None for m in matchers)
        with torch.no_grad():
            logits = stepper.feed(prompts).clone()  # masked in place below; the stepper keeps its own
            for _ in range(max_new):
                live = [r for r in range(b) if not done[r]]
                self.stats.model_calls += 1
                self.stats.row_calls += len(live)
                self.stats.steps += 1
                logits[:, self.config.pad_id] = float("-inf")
                logits[:, self.config.bos_id] = float("-inf")
                logits[:, self.config.hole_id] = float("-inf")
                if end_id != 0:
                    logits[:, 0] = float("-inf")
                if end_id != self.config.sep_id:
                    logits[:, self.config.sep_id] = float("-inf")
                if constrained:
                    t_mask = time.perf_counter()
                    logits = self._apply_masks(logits, matchers, live, end_id, bits, vocab)
                    self.stats.mask_seconds += time.perf_counter() - t_mask
                choice = sample_from_logits(logits, temperature, top_p, generator)
                chosen = choice.tolist()
                t_mask = time.perf_counter()
                for r in live:
                    tok = int(chosen[r])
                    if torch.isinf(logits[r]).all():
                        self.stats.dead_ends += 1
                        done[r] = True
                        continue
                    if tok == end_id:
                        done[r] = True
                        continue
                    out[r].append(tok)
                    self.stats.tokens += 1
                    m = matchers[r]
                    if m is not None and not m.consume_token(tok):
                        done[r] = True  # cannot happen under the mask; ends the row defensively
                    if stop is not None and stop(out[r]):
                        done[r] = True
                if constrained:  # consuming the sampled tokens is part of the grammar's cost
                    self.stats.mask_seconds += time.perf_counter() - t_mask
                if all(done):
                    break
                logits = stepper.feed([[] if done[r] else [int(chosen[r])] for r in range(b)]).clone()
        self.stats.rows += b
        self.stats.seconds += time.perf_counter() - t0
        return out

    def _apply_masks(
        self, logits: torch.Tensor, matchers: list[Any], live: list[int], end_id: int, bits: torch.Tensor, vocab: int
    ) -> torch.Tensor:
        """Mask constrained rows with llguidance; the grammar's end (token 0) maps to `end_id`."""
        import llguidance.torch as llt

        rows = [r for r in live if matchers[r] is not None]
        if not rows:
            return logits
        bitmask = llt.allocate_token_bitmask(len(rows), vocab)
        for j, r in enumerate(rows):
            llt.fill_next_token_bitmask(matchers[r], bitmask, j)
        allowed = ((bitmask.unsqueeze(-1) >> bits) & 1).bool().reshape(len(rows), -1)[:, :vocab]
        if end_id != 0:
            allowed[:, end_id] = allowed[:, 0]
            allowed[:, 0] = False
        index = torch.tensor(rows, dtype=torch.long)
        logits[index] = logits[index].masked_fill(~allowed.to(logits.device), float("-inf"))
        return logits
