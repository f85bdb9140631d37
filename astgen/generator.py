"""The library surface: `load()` a checkpoint into a `Generator`, then `infill` / `generate`.

    gen = astgen.load()                       # the checkpoint shipped inside the package
    gen.infill("def area(r):\\n    ...\\n")    # its `...` holes filled; canonical source back
    gen.generate("import os\\n", n=3)         # three new top-level functions

Every result parses and compiles: the grammar mask makes each hole a valid subtree, and the few
programs whose filled holes clash with code *after* them (e.g. a name a later parameter repeats)
are resampled (`retries`); if none compiles, `InfillError` says so."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from astgen.checks import FileCheck, Selection, as_check, ranked, select_candidate
from astgen.codec import Codec, default_codec, parse_source, unparse
from astgen.codec.hole_select import select_holes
from astgen.codec.holes import LIST, HoledProgram, holed_program
from astgen.codec.refs import NameRefs
from astgen.codec.source import quiet_compile
from astgen.decoding import DecodeConfig, DecodeStats, decode_holes
from astgen.errors import InfillError, InvalidOptionError, NoPassingFillWarning
from astgen.grammar.compiled import CompiledGrammar
from astgen.lean import LeanLlama
from astgen.model import ModelConfig, load_lean_checkpoint
from astgen.stepping import model_device

__all__ = ["Generator", "default_checkpoint", "generate", "infill", "load"]

_FUNCTION_CTOR_BASES = ("FunctionDef", "AsyncFunctionDef")


def default_checkpoint() -> Path:
    """The folder of the checkpoint shipped inside the package."""
    return Path(str(resources.files("astgen") / "checkpoints" / "default"))


class Generator:
    """A model, its grammar and codec, ready to fill holes in batches."""

    def __init__(self, model: Any, config: ModelConfig, compiled: CompiledGrammar, codec: Codec, batch_size: int = 32):
        """`model`: a transformers causal LM, or an `astgen.lean.LeanLlama` read by `load()`."""
        self.config, self.compiled, self.codec = config, compiled, codec
        self._lean = model if isinstance(model, LeanLlama) else None
        self._hf = None if isinstance(model, LeanLlama) else model
        self.batch_size = batch_size
        self.stats = DecodeStats()
        self.retries = 0

    @property
    def model(self) -> Any:
        """The transformers model (for `model.generate()`, training, `save_pretrained`).  A generator
        from `load()` decodes with the lean forward and builds this on first use from the same
        weights; from then on it decodes with this model's weights, changes included."""
        if self._hf is None:
            lean = self._lean
            if lean is None or lean.source_state is None:
                raise InvalidOptionError("this generator's lean model was not read from a checkpoint folder")
            from astgen.model import attach_state_embedding, model_from_state

            self._hf = model_from_state(lean.source_state, self.config, str(lean.device))
            if lean.states is not None:
                attach_state_embedding(self._hf, lean.states)
        return self._hf

    def _decoder(self) -> Any:
        """What the decoder runs: the transformers model once it exists, else the lean one."""
        return self._hf if self._hf is not None else self._lean

    @property
    def device(self) -> torch.device:
        return model_device(self._decoder())

    @property
    def refs(self) -> NameRefs | None:
        """The model's name-reference layout (`astgen.codec.refs`), or None where it spells every name."""
        if not self.config.name_refs:
            return None
        return NameRefs.for_model(self.compiled, self.config.ref_base, self.config.name_refs)

    # ------------------------------------------------------------------ holes
    def fill(
        self, programs: Sequence[HoledProgram], cfg: DecodeConfig, scores: list[float] | None = None
    ) -> list[list[list[int]]]:
        """The actions of every hole of every program, holes filled in order (batched by round).  With a
        `scores` list, each program's log-probability (summed over its holes) is appended to it."""
        answers: list[list[list[int]]] = [[] for _ in programs]
        logp = [0.0] * len(programs)
        rounds = max((p.n_holes for p in programs), default=0)
        for k in range(rounds):
            rows = [i for i, p in enumerate(programs) if p.n_holes > k]
            for lo in range(0, len(rows), self.batch_size):
                chunk = rows[lo : lo + self.batch_size]
                tasks = [
                    programs[i].task(
                        k, answers[i], cfg.context, cfg.max_actions, self.config.bos_id, self.config.sep_id
                    )
                    for i in chunk
                ]
                chunk_scores: list[float] | None = [] if scores is not None else None
                filled = decode_holes(
                    self._decoder(), self.compiled, tasks, cfg, self.config.pad_id, self.config.sep_id, self.stats,
                    hole_id=self.config.hole_id, scores=chunk_scores, refs=self.refs,
                )  # fmt: skip
                for j, (i, actions) in enumerate(zip(chunk, filled)):
                    answers[i].append(actions)
                    logp[i] += chunk_scores[j] if chunk_scores is not None else 0.0
        if scores is not None:
            scores.extend(logp)
        return answers

    def _complete(
        self, programs: list[HoledProgram], cfg: DecodeConfig, filenames: Sequence[str], retries: int
    ) -> list[ast.Module]:
        """Fill, decode and compile; programs that do not compile are sampled again."""
        return [tree for tree, _, _ in self._complete_with_answers(programs, cfg, filenames, retries)]

    def _complete_with_answers(
        self,
        programs: list[HoledProgram],
        cfg: DecodeConfig,
        filenames: Sequence[str],
        retries: int,
        scored: bool = False,
    ) -> list[tuple[ast.Module, list[list[int]], float]]:
        """(tree, each hole's actions, log-probability if `scored` else 0) per program; resampled until
        it compiles."""
        trees: list[tuple[ast.Module, list[list[int]], float] | None] = [None] * len(programs)
        todo = list(range(len(programs)))
        attempt = 0
        while todo:
            scores: list[float] = []
            answers = self.fill([programs[i] for i in todo], cfg, scores if scored else None)
            failed: list[int] = []
            for i, ans, score in zip(todo, answers, scores or [0.0] * len(todo)):
                tree = self.codec.decode_tree(programs[i].filled(ans))
                try:
                    quiet_compile(unparse(tree), filenames[i])
                except (SyntaxError, ValueError):
                    failed.append(i)
                    continue
                trees[i] = (tree, ans, score)
            if not failed:
                break
            attempt += 1
            if attempt > retries:
                raise InfillError(
                    f"{filenames[failed[0]]}: no filling of its holes compiled after {retries} resampling(s); "
                    "the code after a hole probably conflicts with every candidate (try another seed)"
                )
            self.retries += len(failed)
            seed = (cfg.seed or 0) + attempt
            cfg = DecodeConfig(**{**cfg.__dict__, "temperature": max(cfg.temperature, 0.7), "seed": seed})
            todo = failed
        return [t for t in trees if t is not None]

    def _config(self, **kw: Any) -> DecodeConfig:
        return DecodeConfig(**{k: v for k, v in kw.items() if v is not None})

    def infill_batch(
        self,
        sources: Sequence[str],
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        max_actions: int = 256,
        filenames: Sequence[str] | None = None,
        retries: int = 3,
        all_holes: bool = False,
        target_version: str | tuple[int, int] | None = None,
    ) -> list[str]:
        """Fill the `...` holes of every source; returns canonical sources.  Idiomatic `...` (annotations,
        subscripts, defaults, stubs, protocols, `.pyi` files) stay unless `all_holes`; a `# astgen: fill`
        comment on a line selects exactly the holes on such lines (`astgen.codec.hole_select`).

        `target_version` ("3.11", default: the running Python) limits the fills to that version's syntax
        and writes the result in a form it parses.

        Raises SourceSyntaxError (file:line:col) for source Python rejects, NoHoleError for a source
        without a hole, InfillError if no filling compiles."""
        names = list(filenames) if filenames is not None else ["<source>"] * len(sources)
        cfg = self._config(
            temperature=temperature, top_p=top_p, seed=seed, max_actions=max_actions, target_version=target_version
        )
        programs = [
            holed_program(self.codec, s, self.config.hole_id, n, all_holes=all_holes) for s, n in zip(sources, names)
        ]
        return [unparse(t, cfg.target_version) for t in self._complete(programs, cfg, names, retries)]

    def fill_holes(
        self,
        source: str,
        filename: str = "<source>",
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        max_actions: int = 256,
        retries: int = 3,
        markers: bool = False,
        generators: Collection[int] = (),
        target_version: str | tuple[int, int] | None = None,
    ) -> dict[int, list[ast.stmt] | ast.expr]:
        """The Python nodes that fill each hole of `source`: a list of statements for a statement
        hole, one expression otherwise; the program they make compiles.  Keys are the holes' order of
        decoding, or with `markers` (holes written as names `__astgen_hole_<k>__`) the k of each.
        `generators` lists marker holes whose fill must yield (it replaces the only `yield` of a generator)."""
        [(fills, _)] = self.fill_candidates(
            source, 1, filename, temperature, top_p, seed, max_actions, retries, markers, generators, target_version
        )
        return fills

    def _hole_nodes(
        self, program: HoledProgram, answers: list[list[int]], markers: bool
    ) -> dict[int, list[ast.stmt] | ast.expr]:
        return {
            (index if markers else i): self.codec.decode_hole(symbol, kind == LIST, ans)
            for i, (symbol, kind, index, ans) in enumerate(zip(program.symbols, program.kinds, program.order, answers))
        }

    def _candidates(
        self, program: HoledProgram, samples: int, cfg: DecodeConfig, filename: str, retries: int
    ) -> list[tuple[ast.Module, list[list[int]], float]]:
        """`samples` scored fillings: with a temperature above 0 the first is the greedy one and the
        rest are sampled in one batch, so that a check over K candidates never does worse than greedy."""
        if samples == 1 or cfg.temperature == 0:
            return self._complete_with_answers([program] * samples, cfg, [filename] * samples, retries, scored=True)
        greedy = DecodeConfig(**{**cfg.__dict__, "temperature": 0.0})
        first = self._complete_with_answers([program], greedy, [filename], retries, scored=True)
        rest = self._complete_with_answers([program] * (samples - 1), cfg, [filename] * (samples - 1), retries, True)
        return first + rest

    def fill_candidates(
        self,
        source: str,
        samples: int,
        filename: str = "<source>",
        temperature: float = 0.8,
        top_p: float = 0.95,
        seed: int | None = None,
        max_actions: int = 256,
        retries: int = 3,
        markers: bool = False,
        generators: Collection[int] = (),
        target_version: str | tuple[int, int] | None = None,
    ) -> list[tuple[dict[int, list[ast.stmt] | ast.expr], float]]:
        """`samples` fillings of the holes of `source` as `fill_holes` returns them, each with its
        log-probability, most likely first (identical fillings kept once): the greedy filling and, when
        sampling, `samples` - 1 more decoded in one batch."""
        if samples < 1:
            raise InvalidOptionError(f"samples must be >= 1, got {samples}")
        cfg = self._config(
            temperature=temperature, top_p=top_p, seed=seed, max_actions=max_actions, target_version=target_version
        )
        program = holed_program(
            self.codec, source, self.config.hole_id, filename, markers=markers, generators=generators
        )
        done = self._candidates(program, samples, cfg, filename, retries)
        distinct = ranked((tuple(map(tuple, ans)), score) for _, ans, score in done)
        return [(self._hole_nodes(program, [list(a) for a in ans], markers), score) for ans, score in distinct]

    def infill(
        self,
        source: str,
        samples: int = 1,
        check: str | Callable[[str], object] | FileCheck | None = None,
        **kw: Any,
    ) -> str:
        """Fill the `...` holes of one source (see `infill_batch` for the options).

        With `samples` > 1 or a `check`, this is `infill_candidates`: the most likely candidate that
        passes the check is returned; if none passes, the most likely one, with a `NoPassingFillWarning`."""
        filename = kw.pop("filename", "<source>")
        if samples == 1 and check is None:
            return self.infill_batch([source], filenames=[filename], **kw)[0]
        selection = self.infill_candidates(source, samples, check, filename=filename, **kw)
        if selection.passed is False:
            warnings.warn(NoPassingFillWarning(selection.message), stacklevel=2)
        return selection.chosen.source

    def infill_candidates(
        self,
        source: str,
        samples: int = 4,
        check: str | Callable[[str], object] | FileCheck | None = None,
        filename: str = "<source>",
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        max_actions: int = 256,
        retries: int = 3,
        all_holes: bool = False,
        target_version: str | tuple[int, int] | None = None,
    ) -> Selection:
        """Sample `samples` fillings of the `...` holes in one batch and pick one.

        The candidates are the greedy filling and, when sampling, `samples` - 1 sampled ones decoded in
        one batch; they are ranked by log-probability (identical sources kept once).  Without a check the most
        likely is chosen; with one (`"doctest"`, a function of the filled source returning a truth value,
        or an `astgen.checks` check), candidates are checked most likely first and the first that passes is
        chosen; if none passes, the most likely, with `passed=False`.  Sampling defaults to temperature
        0.8 and top-p 0.95 for more than one sample, greedy for one.  The check is bound before sampling,
        so a check with nothing to run (`NoCheckError`) costs no model time."""
        if samples < 1:
            raise InvalidOptionError(f"samples must be >= 1, got {samples}")
        sampling = samples > 1
        temperature = (0.8 if sampling else 0.0) if temperature is None else temperature
        top_p = (0.95 if sampling else 1.0) if top_p is None else top_p
        cfg = self._config(
            temperature=temperature, top_p=top_p, seed=seed, max_actions=max_actions, target_version=target_version
        )
        program = holed_program(self.codec, source, self.config.hole_id, filename, all_holes=all_holes)
        bound = None
        if check is not None:
            tree = parse_source(source, filename)
            holes = [(n.lineno, n.col_offset) for n in select_holes(tree, source, filename, all_holes)]
            bound = as_check(check).bind(source, filename, holes)
        done = self._candidates(program, samples, cfg, filename, retries)
        texts = [(unparse(tree, cfg.target_version).encode(), score) for tree, _, score in done]
        return select_candidate(texts, bound, filename)

    def function_program(self, prompt_source: str = "", filename: str = "<prompt>") -> HoledProgram:
        """`prompt_source` plus one hole after it that must become a top-level function definition
        (SourceSyntaxError names `filename` if the prompt does not parse)."""
        vocab = self.codec.vocab
        first = tuple(vocab.ctor_id(c) for c in vocab.constructors if c.split("-")[0] in _FUNCTION_CTOR_BASES)
        return holed_program(
            self.codec, prompt_source, self.config.hole_id, filename, append_hole=first, mark_ellipsis=False
        )

    def generate(
        self,
        prompt_source: str = "",
        n: int = 1,
        temperature: float = 0.8,
        top_p: float = 0.95,
        seed: int | None = None,
        max_actions: int = 384,
        retries: int = 3,
        filename: str = "<prompt>",
        target_version: str | tuple[int, int] | None = None,
    ) -> list[str]:
        """`n` new top-level functions that could follow `prompt_source` (each returned alone), in the
        syntax of `target_version` (default: the running Python)."""
        if n < 1:
            raise InvalidOptionError(f"n must be >= 1 (how many functions), got {n}")
        cfg = self._config(
            temperature=temperature, top_p=top_p, seed=seed, max_actions=max_actions, target_version=target_version
        )
        program = self.function_program(prompt_source, filename)
        trees = self._complete([program] * n, cfg, ["<generated>"] * n, retries)
        return [unparse(t.body[-1], cfg.target_version) for t in trees]


def load(path: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 32) -> Generator:
    """A Generator for the checkpoint folder `path` (default: the one shipped with astgen).

    Raises CheckpointError for a missing or damaged folder and CheckpointMismatchError for a
    checkpoint trained for another grammar; weights are read with safetensors only."""
    from astgen.compiled_default import default_compiled

    device = _check_device(device)
    compiled = default_compiled()
    folder = Path(path) if path is not None else default_checkpoint()
    model, config = load_lean_checkpoint(folder, compiled, device=str(device))
    return Generator(model, config, compiled, default_codec(), batch_size)


def _check_device(device: str | torch.device) -> torch.device:
    """`device` as a torch device this build and machine can use; InvalidOptionError names the choices."""
    available = ["cpu"] + (
        [f"cuda (cuda:0..cuda:{torch.cuda.device_count() - 1})"] if torch.cuda.is_available() else []
    )
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise InvalidOptionError(f"device {device!r} is not a torch device; available: {', '.join(available)}") from e
    usable = dev.type == "cpu" or (
        dev.type == "cuda" and torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
    )
    if not usable:
        raise InvalidOptionError(f"device {device!r} is not available here; available: {', '.join(available)}")
    return dev


@lru_cache(maxsize=1)
def _default_generator() -> Generator:
    return load()


def infill(source: str, **kw: Any) -> str:
    """Fill the `...` holes of `source` with the default checkpoint (see `Generator.infill`)."""
    return _default_generator().infill(source, **kw)


def generate(prompt_source: str = "", n: int = 1, **kw: Any) -> list[str]:
    """`n` new functions with the default checkpoint (see `Generator.generate`)."""
    return _default_generator().generate(prompt_source, n, **kw)
