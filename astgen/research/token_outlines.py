"""Grammar-constrained decoding of the token baseline through outlines' public API (a fourth mode).

The ``grammar`` mode of `astgen.research.token_decoding` drives `llguidance.LLMatcher` directly; this
module asks the same of outlines 1.x instead — ``outlines.from_transformers(model, hf_tokenizer)``,
``outlines.Generator(model, outlines.types.CFG(python_grammar(start)))`` and ``generator.batch(texts)``
— so the report can say what a stock structured-generation library costs and whether it copes.

What outlines' API imposes, and how each point is met (nothing outside outlines' public calls and the
`transformers` generate keywords it forwards):

* prompts are text: the prompt ids are decoded with their special tokens and outlines re-encodes
  them; each prompt is checked to round-trip to the same ids (`OutlinesDecoder.prompt_mismatches`);
* the grammar's end is the Hugging Face tokenizer's ``eos_token``: one outlines model per end id
  (``<sep>`` for infill, ``<eot>`` for whole functions), and generate's ``eos_token_id`` is the same id;
* one grammar per generator call: prompts are grouped by start rule and batched within a group;
* the CFG constrains generated tokens only, not prompt tokens: where `TokenDecoder` makes the grammar
  consume forced prompt tokens (the ``def`` head of a function), the CFG's start is the rest of that
  rule (`continuation_grammar`), the same language once the head is given;
* outlines returns text: a `transformers` stopping criterion reads the ids as they are generated
  (and applies `stop`), so the result is token ids exactly like `TokenDecoder.generate`;
* the tokens `TokenDecoder` always masks (pad, bos, hole, the other end token) go to generate's
  ``suppress_tokens``.

`TokenDecodeStats.mask_seconds` is the time spent in outlines' logits processor (``process_logits``:
LLMatcher set-up per row, consuming the previous tokens, filling and applying the bitmask) plus the
one-off construction of the outlines models and generators (also kept alone in `setup_seconds`)."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from astgen.research.python_lark import python_grammar
from astgen.research.token_decoding import TokenDecoder, TokenDecodeStats

__all__ = ["OutlinesDecoder", "continuation_grammar"]

_FUNCDEF = re.compile(r"funcdef_\d+")
_DEF_HEAD = '("async" " ")? ("def" " ")'


def continuation_grammar(start: str, head: str = "") -> str:
    """`python_grammar(start)`, or, when `head` is text the prompt already holds, the same grammar whose
    start is what may follow it (only ``def`` before a ``funcdef_<d>`` rule is supported)."""
    grammar = python_grammar(start)
    if not head:
        return grammar
    if head != "def" or not _FUNCDEF.fullmatch(start):
        raise NotImplementedError(f"no continuation grammar for the head {head!r} of {start!r}")
    rule = next((line for line in grammar.splitlines() if line.startswith(f"{start}: ")), None)
    if rule is None or not rule.startswith(f"{start}: {_DEF_HEAD} "):
        raise ValueError(f"the rule {start!r} no longer starts with {_DEF_HEAD}: {rule!r}")
    rest = rule[len(f"{start}: {_DEF_HEAD} ") :]
    return grammar.replace(f"start: {start}\n", f'start: " " {rest}\n', 1)


class _Recorder:
    """A `transformers` stopping criterion that reads each row's new ids, step by step, as
    `TokenDecoder` would keep them (the end id excluded), and counts model calls and rows."""

    def __init__(
        self,
        width: int,
        end_id: int,
        stats: TokenDecodeStats,
        dead: set[int],
        stop: Callable[[list[int]], bool] | None,
    ):
        self.width, self.end_id, self.stats, self.dead, self.stop = width, end_id, stats, dead, stop
        self.out: list[list[int]] = []
        self.done: list[bool] = []

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        b = input_ids.shape[0]
        if not self.out:
            self.out, self.done = [[] for _ in range(b)], [False] * b
        last = input_ids[:, -1].tolist()
        live = [r for r in range(b) if not self.done[r]]
        self.stats.model_calls += 1
        self.stats.row_calls += len(live)
        self.stats.steps += 1
        for r in live:
            tok = int(last[r])
            if r in self.dead:  # the grammar allowed nothing: the row ended on the forced end id
                self.stats.dead_ends += 1
                self.done[r] = True
                continue
            if tok == self.end_id:
                self.done[r] = True
                continue
            self.out[r].append(tok)
            self.stats.tokens += 1
            if self.stop is not None and self.stop(self.out[r]):
                self.done[r] = True
        self.dead.clear()
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


class OutlinesDecoder:
    """The token baseline of a `TokenDecoder`, constrained by outlines' CFG type (llguidance backend by
    default), with `TokenDecoder.generate`'s inputs and outputs."""

    def __init__(self, dec: TokenDecoder, backend: str | None = None, batch_size: int | None = None):
        self.dec = dec
        self.backend = backend
        self.batch_size = batch_size or dec.batch_size
        self.stats = TokenDecodeStats()
        self.setup_seconds = 0.0  # building outlines models (tokenizer wrappers) and generators (grammars)
        self.prompts = 0
        self.prompt_mismatches = 0  # prompts whose text outlines does not encode back to the same ids
        self.warnings: dict[str, int] = {}  # warnings raised inside generation, by first line
        self._models: dict[int, Any] = {}
        self._generators: dict[tuple[str, str, int], Any] = {}
        self._dead: set[int] | None = None  # rows of the running batch the grammar left no token for
        self._end_id = 0

    # ------------------------------------------------------------------ outlines objects
    def outlines_model(self, end_id: int) -> Any:
        """outlines' `Transformers` model whose tokenizer's eos (the grammar's end) is `end_id`."""
        if end_id not in self._models:
            import outlines
            from tokenizers import Tokenizer
            from transformers import PreTrainedTokenizerFast

            t0 = time.perf_counter()
            end = self.dec.tokenizer.id_to_token(end_id)
            if end is None:
                raise ValueError(f"end id {end_id} is not in the tokenizer")
            own = Tokenizer.from_str(self.dec.tokenizer.to_str())  # outlines sets padding on it: keep ours intact
            hf: Any = PreTrainedTokenizerFast(tokenizer_object=own, eos_token=end, pad_token="<pad>")
            self._models[end_id] = outlines.from_transformers(self.dec.model, hf)
            self.setup_seconds += time.perf_counter() - t0
            self.stats.mask_seconds += time.perf_counter() - t0
        return self._models[end_id]

    def generator(self, start: str, end_id: int, head: str = "") -> Any:
        """A cached `outlines.Generator` for the CFG of `start` (after `head`), ending with `end_id`."""
        key = (start, head, end_id)
        if key not in self._generators:
            import outlines
            from outlines.types import CFG

            model = self.outlines_model(end_id)
            t0 = time.perf_counter()
            gen: Any = outlines.Generator(model, CFG(continuation_grammar(start, head)), backend=self.backend)
            self._time_processor(gen.logits_processor)
            self._generators[key] = gen
            self.setup_seconds += time.perf_counter() - t0
            self.stats.mask_seconds += time.perf_counter() - t0
        return self._generators[key]

    def _time_processor(self, processor: Any) -> None:
        """Count the time in the processor's `process_logits`; a row the grammar leaves no token for gets
        its end id (instead of an all -inf row that sampling cannot draw from) and is marked a dead end."""
        inner = processor.process_logits
        stats = self.stats

        def timed(input_ids: Any, logits: Any) -> Any:
            t0 = time.perf_counter()
            out = inner(input_ids, logits)
            stats.mask_seconds += time.perf_counter() - t0
            if self._dead is not None:
                for r in torch.isinf(out).all(dim=-1).nonzero().flatten().tolist():
                    out[r, self._end_id] = 0.0
                    self._dead.add(int(r))
            return out

        processor.process_logits = timed

    # ------------------------------------------------------------------ decoding
    def prompt_text(self, prompt: Sequence[int], end_id: int) -> str:
        """The prompt as the text outlines takes (special tokens written out); counts ids that do not
        come back when outlines encodes it."""
        text = str(self.dec.tokenizer.decode(list(prompt), skip_special_tokens=False))
        ids, _ = self.outlines_model(end_id).tokenizer.encode(text)
        self.prompts += 1
        self.prompt_mismatches += int(ids[0].tolist() != list(prompt))
        return text

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        starts: Sequence[str],
        max_new: int,
        end_id: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        forced: Sequence[Sequence[int]] | None = None,
        stop: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        """New tokens for each prompt (without `end_id`), constrained by the CFG of `starts[i]`.

        `forced[i]` are the last prompt tokens that the grammar must cover first (as `TokenDecoder`):
        their text is left out of the CFG (`continuation_grammar`).  Prompts are grouped by start rule
        and head, then batched by `batch_size`; a batch samples with `seed + index of its first row`."""
        if len(starts) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(starts)} start rules")
        heads = [self.dec.decode(f) for f in forced] if forced is not None else [""] * len(prompts)
        out: list[list[int]] = [[] for _ in prompts]
        groups: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(starts, heads)):
            groups.setdefault(key, []).append(i)
        for (start, head), rows in groups.items():
            for lo in range(0, len(rows), self.batch_size):
                batch = rows[lo : lo + self.batch_size]
                ids = self._generate_batch(
                    [prompts[i] for i in batch],
                    start,
                    head,
                    max_new,
                    end_id,
                    temperature,
                    top_p,
                    None if seed is None else seed + batch[0],
                    stop,
                )
                for i, x in zip(batch, ids):
                    out[i] = x
        return out

    def _generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        start: str,
        head: str,
        max_new: int,
        end_id: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        stop: Callable[[list[int]], bool] | None,
    ) -> list[list[int]]:
        gen = self.generator(start, end_id, head)
        texts = [self.prompt_text(p, end_id) for p in prompts]
        t0 = time.perf_counter()
        cfg = self.dec.config
        suppress = [cfg.pad_id, cfg.bos_id, cfg.hole_id] + [t for t in (0, cfg.sep_id) if t != end_id]
        recorder = _Recorder(len(prompts), end_id, self.stats, set(), stop)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "eos_token_id": end_id,
            "pad_token_id": cfg.pad_id,
            "suppress_tokens": suppress,
            "stopping_criteria": [recorder],
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        self._dead, self._end_id = recorder.dead, end_id
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad(), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if seed is not None:
                    torch.manual_seed(seed)
                gen.batch(texts, **kwargs)
        finally:
            self._dead = None
        for w in caught:
            key = str(w.message).splitlines()[0][:160] if str(w.message) else type(w.message).__name__
            self.warnings[key] = self.warnings.get(key, 0) + 1
        self.stats.rows += len(prompts)
        self.stats.seconds += time.perf_counter() - t0
        return recorder.out or [[] for _ in prompts]
