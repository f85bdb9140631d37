"""AST-level vs token-level generation at equal size, data and compute: train or load both, evaluate
both on the held-out test split, write a report with plots.

    python -m training.compare --budget small     # end to end on a 2-core CPU in under 30 minutes
    python -m training.compare --budget full      # the figures docs/report.md quotes
    astgen compare --budget small|full            # the same, from a source checkout

Fairness rule: both models are the same `LlamaForCausalLM` (astgen.model.ModelConfig; the BPE
vocabulary has exactly as many ids as the action vocabulary, so the parameter counts are equal),
trained by the same script (`training.train`, `--baseline tokens` for the BPE model) on the same
training documents with the same fill-in-the-middle mix, for the same number of optimizer steps x
batch x sequence positions.  A position is one action for the AST model and one BPE token for the
baseline; a BPE token covers more characters, so at equal positions the baseline reads more source
(the report gives the ratio).  Bits per character divide by the same canonical character counts.

The budget decides the data, the training length and the evaluation sizes (see `BUDGETS`); runs are
resumed or reused when their checkpoint is already there.  Results: <work>/results.json, the report
(markdown) and PNG plots."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astgen.codec import default_codec, unparse
from astgen.codec.holes import holed_program, prompt_window
from astgen.compiled_default import default_compiled
from astgen.decoding import DecodeConfig
from astgen.generator import Generator
from astgen.model import load_checkpoint, state_embedding
from astgen.research.baseline import load_token_checkpoint
from astgen.research.cases import InfillCase, cases_in_function, compiles, parses, sample_cases
from astgen.research.token_decoding import MODES, TokenDecoder, top_level_end
from astgen.validity import added_name_reports, undefined_names
from training.compare_report import name_refs_of, write_report
from training.machine import describe

__all__ = ["BUDGETS", "Budget", "main"]


@dataclass(frozen=True)
class Budget:
    """Everything a comparison run depends on."""

    name: str
    data: str  # AST corpus folder (training.data)
    data_limit: int | None  # files kept when the corpus has to be built (None: all)
    token_data: str  # token corpus folder (training.token_data)
    runs_dir: str
    ast_run: str
    token_run: str
    train: tuple[str, ...]  # training.train options shared by both runs
    ast_train: tuple[str, ...]  # and those of the AST run only (its representation)
    steps: int
    bpc_tokens: int  # actions of test documents scored for bits per character
    infill_per_kind: int
    samples: int
    functional_tasks: int
    retries: int
    batch_size: int
    threads: int
    report: str
    work: str  # results.json and plots


_ARCH = tuple("--hidden 192 --intermediate 768 --heads 4 --layers 4 --lr 2e-3".split())
_SHIPPED = ("--tree-features", "--name-refs", "64")  # the shipped model's representation (training/README.md)
BUDGETS = {
    "small": Budget(
        name="small",
        data="runs/compare-small/data",
        data_limit=500,
        token_data="runs/compare-small/data/tokens",
        runs_dir="runs/compare-small",
        ast_run="ast",
        token_run="tokens",
        train=(
            *_ARCH,
            *"--batch-size 8 --seq-len 256 --warmup 20 --eval-every 40 --eval-tokens 8192".split(),
            *"--save-every 40 --threads 2".split(),
        ),
        ast_train=_SHIPPED,
        steps=160,
        bpc_tokens=20_000,
        infill_per_kind=10,
        samples=12,
        functional_tasks=6,
        retries=2,
        batch_size=16,
        threads=2,
        report="runs/compare-small/report.md",
        work="runs/compare-small",
    ),
    "full": Budget(
        name="full",
        data="data",
        data_limit=None,
        token_data="data/tokens",
        runs_dir="runs",
        ast_run="refs-full",
        token_run="tokens",
        train=(
            *_ARCH,
            *"--batch-size 16 --seq-len 512 --warmup 100 --eval-every 200 --eval-tokens 65536".split(),
            *"--save-every 25 --threads 1".split(),
        ),
        ast_train=_SHIPPED,
        steps=800,
        bpc_tokens=100_000,
        infill_per_kind=40,
        samples=32,
        functional_tasks=16,
        retries=3,
        batch_size=16,
        threads=2,
        report="docs/report.md",
        work="docs/report",
    ),
}
MAX_HOLE = 256  # longest answer of either model, in its own units (the AST decoder's default)


def max_hole(context: int) -> int:
    """The longest answer for a context window: MAX_HOLE, or half the window of a short-window budget."""
    return min(MAX_HOLE, context // 2)


def log(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data and training


def ensure_data(b: Budget) -> None:
    if not (Path(b.data) / "test.json").is_file():
        from training import data as data_mod

        args = ["--out", b.data, "--jobs", "2"] + (["--limit", str(b.data_limit)] if b.data_limit else [])
        log(f"encoding the corpus: python -m training.data {' '.join(args)}")
        data_mod.main(args)
    if not (Path(b.token_data) / "test.json").is_file():
        from training import token_data

        log(f"building the token corpus into {b.token_data}")
        n_actions = json.loads((Path(b.data) / "train.json").read_text(encoding="utf-8"))["n_actions"]
        vocab = n_actions + name_refs_of(" ".join(b.ast_train))  # as many ids as the AST model's vocabulary
        token_data.main(["--data", b.data, "--out", b.token_data, "--vocab-size", str(vocab)])


def _trained_steps(run_dir: Path) -> int:
    state = run_dir / "checkpoint" / "trainer_state.json"
    return int(json.loads(state.read_text(encoding="utf-8"))["step"]) if state.is_file() else -1


def ensure_run(b: Budget, run: str, baseline: str) -> Path:
    from training import train

    run_dir = Path(b.runs_dir) / run
    done = _trained_steps(run_dir)
    if done >= b.steps:
        log(f"{run_dir}: trained ({done} steps), reusing it")
        return run_dir / "checkpoint"
    data = b.token_data if baseline == "tokens" else b.data
    args = ["--name", run, "--runs-dir", b.runs_dir, "--steps", str(b.steps)]
    if done >= 0:
        args.append("--resume")
    else:
        args += ["--data", data, "--baseline", baseline, *b.train, *(b.ast_train if baseline == "ast" else ())]
    log(f"training: python -m training.train {' '.join(args)}")
    train.main(args)
    return run_dir / "checkpoint"


# ----------------------------------------------------------------------------- bits per character


def eval_bpc(b: Budget, gen: Generator, dec: TokenDecoder, seq_len: int) -> dict[str, Any]:
    from training.data import load_split
    from training.evaluate import score_documents
    from training.token_data import load_token_split
    from training.train import eval_documents, evaluate

    stream, info = load_split(b.data, "test")
    tstream, tinfo = load_token_split(b.token_data, "test")
    docs = eval_documents(info, b.bpc_tokens, seed=4321)
    by_path = {d["path"]: d for d in tinfo["documents"]}
    tdocs = [by_path[d["path"]] for d in docs]
    out: dict[str, Any] = {"documents": len(docs), "chars": sum(d["chars"] for d in docs)}
    for name in ("ast", "tokens"):
        t0 = time.perf_counter()
        if name == "ast":  # a tree-state model is fed its states (training.evaluate.score_documents)
            r = score_documents(gen, stream, info, docs, seq_len)
        else:
            r = evaluate(dec.model, tstream, tdocs, dec.config, seq_len, 16, torch.device("cpu"))
        out[name] = {
            "positions": r["val_actions"],
            "bits_per_position": round(r["val_bits_per_action"], 4),
            "bits_per_char": round(r["val_bpc"], 4),
            "chars_per_position": round(r["val_chars"] / max(1, r["val_actions"]), 3),
            **(
                {"bits_per_char_by_position": {k: round(v, 4) for k, v in r["val_bpc_by"].items()}}
                if "val_bpc_by" in r
                else {}
            ),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    return out


# ----------------------------------------------------------------------------- cost accounting

_COUNTERS = ("row_calls", "mask_seconds", "steps", "dead_ends")


def _counters(stats: Any) -> dict[str, float]:
    """The counters of a DecodeStats or TokenDecodeStats that a cost is the difference of."""
    return {k: getattr(stats, k) for k in _COUNTERS if hasattr(stats, k)}


def _cost(stats: Any, before: dict[str, float], t0: float, **extra: Any) -> dict[str, Any]:
    """Seconds since t0 and each counter's growth since `before`, plus `extra`."""
    now = _counters(stats)
    return {"seconds": time.perf_counter() - t0, **{k: now[k] - before[k] for k in before}, **extra}


def _resample(texts: list[str], again: Callable[[list[int], int], list[str]], retries: int) -> int:
    """Replace the texts that do not compile by `again(indices, attempt)`, up to `retries` rounds;
    returns how many decodes were made in all."""
    attempts = len(texts)
    for attempt in range(1, retries + 1):
        bad = [i for i, t in enumerate(texts) if not compiles(t)]
        if not bad:
            break
        attempts += len(bad)
        for i, t in zip(bad, again(bad, attempt)):
            texts[i] = t
    return attempts


# ----------------------------------------------------------------------------- infilling


def _ast_fill(gen: Generator, cases: list[InfillCase], cfg: DecodeConfig) -> tuple[list[str | None], dict[str, Any]]:
    """Filled module text per case (None if the marked module cannot be encoded)."""
    codec = gen.codec
    programs = []
    index = []
    for i, c in enumerate(cases):
        try:
            programs.append(
                holed_program(codec, c.marked, gen.config.hole_id, c.path, mark_ellipsis=False, markers=True)
            )
            index.append(i)
        except Exception as e:  # reported, not hidden: a case the AST model cannot take
            log(f"AST model cannot encode a case of {c.path}: {type(e).__name__}: {str(e)[:120]}")
    before, t0 = _counters(gen.stats), time.perf_counter()
    answers = gen.fill(programs, cfg)
    cost = _cost(gen.stats, before, t0)
    out: list[str | None] = [None] * len(cases)
    for i, p, ans in zip(index, programs, answers):
        out[i] = codec.decode(p.filled(ans))
    return out, cost


def _infill_prompt(dec: TokenDecoder, c: InfillCase, context: int) -> list[int]:
    cfg = dec.config
    p, s = dec.encode(c.prefix), dec.encode(c.suffix) + [0]
    ctx = [*p, cfg.hole_id, *s]
    ws, we = prompt_window(len(ctx), len(p), context, max_hole(context))
    return [cfg.bos_id, *ctx[ws:we], cfg.sep_id]


def _start_rule(c: InfillCase) -> str:
    if c.kind in ("stmt", "body"):
        return f"stmts_{min(c.depth, 8)}"
    return "arg" if c.kind == "arg" else "expr"


def _outlines_decoder(dec: TokenDecoder) -> Any:
    """The token baseline decoded through outlines' public API (a fourth mode), or None without outlines."""
    try:
        import outlines  # noqa: F401  (only to learn whether the mode can run)

        from astgen.research.token_outlines import OutlinesDecoder
    except ImportError:
        log("outlines is not installed: the tokens-outlines mode is left out")
        return None
    return OutlinesDecoder(dec)


def _modes(odec: Any) -> tuple[str, ...]:
    return (*MODES, "outlines") if odec is not None else MODES


def _token_fill(
    dec: TokenDecoder, cases: list[InfillCase], mode: str, retries: int, context: int, odec: Any = None
) -> tuple[list[str], dict[str, Any]]:
    """Filled module text per case with one decoding mode ("outlines": through `odec`)."""
    stats = odec.stats if mode == "outlines" else dec.stats
    before, t0 = _counters(stats), time.perf_counter()
    prompts = [_infill_prompt(dec, c, context) for c in cases]
    sep = dec.config.sep_id
    if mode == "outlines":
        ids = odec.generate(prompts, [_start_rule(c) for c in cases], max_hole(context), sep, temperature=0.0)
    else:
        grammars = [_start_rule(c) for c in cases] if mode == "grammar" else None
        ids = dec.generate(prompts, max_hole(context), sep, temperature=0.0, grammars=grammars)
    texts = [c.filled_text(dec.decode(x)) for c, x in zip(cases, ids)]

    def again(bad: list[int], attempt: int) -> list[str]:
        ids = dec.generate([prompts[i] for i in bad], max_hole(context), sep, temperature=0.7, seed=attempt)
        return [cases[i].filled_text(dec.decode(x)) for i, x in zip(bad, ids)]

    attempts = _resample(texts, again, retries) if mode == "rejection" else len(cases)
    return texts, _cost(stats, before, t0, attempts=attempts)


def _score(cases: list[InfillCase], texts: list[str | None], cost: dict[str, Any]) -> dict[str, Any]:
    per_kind: dict[str, dict[str, int]] = {}
    valid = 0
    for c, t in zip(cases, texts):
        row = per_kind.setdefault(c.kind, {"n": 0, "parse": 0, "compile": 0, "exact": 0, "undefined_in_fill": 0})
        row["n"] += 1
        if t is None:
            continue
        ok = compiles(t, c.path)
        row["parse"] += int(ok or parses(t))  # what compiles parses
        row["compile"] += int(ok)
        row["exact"] += int(c.matches(t))
        valid += int(ok)
        if ok:  # a compiled fill that reads a name nothing binds (pyflakes F821/F823 in the fill itself)
            row["undefined_in_fill"] += int(bool(added_name_reports(t, c.original, c.marked)[0]))
    n = len(cases)
    return {
        "per_kind": per_kind,
        "n": n,
        "compile": valid,
        "undefined_in_fill": sum(r["undefined_in_fill"] for r in per_kind.values()),
        "model_calls_per_program": round(cost["row_calls"] / max(1, n), 1),
        "seconds": round(cost["seconds"], 1),
        "seconds_per_valid_program": round(cost["seconds"] / max(1, valid), 3),
        "mask_ms_per_step": round(1000 * cost["mask_seconds"] / max(1, cost["steps"]), 3),
        **{k: cost[k] for k in ("attempts", "dead_ends") if k in cost},
    }


def eval_infill(
    b: Budget, gen: Generator, dec: TokenDecoder, docs: list[tuple[str, str]], context: int, odec: Any = None
) -> dict[str, Any]:
    cases = sample_cases(docs, b.infill_per_kind, seed=0)
    log(f"infill: {len(cases)} cases")
    out: dict[str, Any] = {"cases": len(cases)}
    texts, cost = _ast_fill(gen, cases, DecodeConfig(temperature=0.0, max_actions=max_hole(context), context=context))
    out["ast"] = _score(cases, texts, cost)
    log(f"infill ast: {out['ast']['compile']}/{len(cases)} compile")
    for mode in _modes(odec):
        ttexts, tcost = _token_fill(dec, cases, mode, b.retries, context, odec)
        out[f"tokens-{mode}"] = _score(cases, list(ttexts), tcost)
        log(f"infill tokens-{mode}: {out[f'tokens-{mode}']['compile']}/{len(cases)} compile")
    return out


# ----------------------------------------------------------------------------- functional checks

_RAISE_STMT = "raise AssertionError('hole')"
_RAISE_EXPR = "(_ for _ in ()).throw(AssertionError('hole'))"


def eval_functional(
    b: Budget, gen: Generator, dec: TokenDecoder, docs: list[tuple[str, str]], context: int, odec: Any = None
) -> dict[str, Any]:
    from astgen.research.functional import find_tasks, run_check

    t0 = time.perf_counter()
    # doctests only (a `test*` function's own body is its check, so filling it proves little), at most two
    # per file, files in a seeded random order (the split is dominated by a few large test modules)
    order = np.random.default_rng(0).permutation(len(docs))
    tasks = find_tasks([docs[int(i)] for i in order], limit=b.functional_tasks, checks=("doctest",), per_module=2)
    found_seconds = time.perf_counter() - t0
    cases: list[InfillCase] = []
    owners = []
    unexercised = 0
    for k, task in enumerate(tasks):
        for c in cases_in_function(task.path, task.source, task.function, seed=k, kinds=("expr", "stmt", "body")):
            # a hole the doctest never executes would pass with any fill: keep holes where a raising fill fails
            broken = _RAISE_STMT if c.kind in ("stmt", "body") else _RAISE_EXPR
            if run_check(task, c.filled_text(broken)).passed:
                unexercised += 1
                continue
            cases.append(c)
            owners.append(task)
    log(f"functional: {len(tasks)} tasks, {len(cases)} exercised holes ({unexercised} holes never executed, dropped)")
    out: dict[str, Any] = {
        "tasks": len(tasks),
        "holes": len(cases),
        "unexercised_dropped": unexercised,
        "find_seconds": round(found_seconds, 1),
    }
    systems: dict[str, list[str | None]] = {}
    systems["ast"], _ = _ast_fill(
        gen, cases, DecodeConfig(temperature=0.0, max_actions=max_hole(context), context=context)
    )
    for mode in _modes(odec):
        filled, _ = _token_fill(dec, cases, mode, b.retries, context, odec)
        systems[f"tokens-{mode}"] = list(filled)
    for name, outs in systems.items():
        per_kind: dict[str, dict[str, int]] = {}
        for c, task, t in zip(cases, owners, outs):
            row = per_kind.setdefault(c.kind, {"n": 0, "pass": 0, "exact": 0})
            row["n"] += 1
            if t is None or not compiles(t):
                continue
            same = c.matches(t)
            row["exact"] += int(same)
            row["pass"] += int(same or run_check(task, t).passed)  # the original passes (checked when found)
        out[name] = {"per_kind": per_kind, "pass": sum(r["pass"] for r in per_kind.values())}
        log(f"functional {name}: {out[name]['pass']}/{len(cases)} pass")
    return out


# ----------------------------------------------------------------------------- unconditional samples


def eval_samples(b: Budget, gen: Generator, dec: TokenDecoder, odec: Any = None) -> dict[str, Any]:
    n = b.samples
    out: dict[str, Any] = {"n": n, "what": "one top-level function from an empty file; temperature 0.8, top-p 0.95"}
    program = gen.function_program("")
    before, t0 = _counters(gen.stats), time.perf_counter()
    answers = gen.fill([program] * n, DecodeConfig(temperature=0.8, top_p=0.95, seed=0, max_actions=384))
    cost = _cost(gen.stats, before, t0)
    texts = [unparse(gen.codec.decode_tree(program.filled(a))) for a in answers]
    out["ast"] = _sample_score(texts, cost)
    out["ast"]["example"] = texts[0][:600]
    bos = dec.config.bos_id
    head = dec.encode("def")
    prompt = [bos, *head]

    def stop(tokens: list[int]) -> bool:
        text = "def" + dec.decode(tokens)
        return top_level_end(text) < len(text)

    def again(bad: list[int], attempt: int) -> list[str]:
        ids = dec.generate([prompt] * len(bad), 384, 0, temperature=0.8, top_p=0.95, seed=1000 * attempt, stop=stop)
        return [_cut_function("def" + dec.decode(x)) for x in ids]

    for mode in _modes(odec):
        stats = odec.stats if mode == "outlines" else dec.stats
        before, t0 = _counters(stats), time.perf_counter()
        constrained = mode in ("grammar", "outlines")
        forced = [head] * n if constrained else None
        if mode == "outlines":
            ids = odec.generate(
                [prompt] * n, ["funcdef_0"] * n, 384, 0, temperature=0.8, top_p=0.95, seed=0, forced=forced, stop=stop
            )
        else:
            grammars = ["funcdef_0"] * n if constrained else None
            ids = dec.generate(
                [prompt] * n, 384, 0, temperature=0.8, top_p=0.95, seed=0, grammars=grammars, forced=forced, stop=stop
            )
        funcs = [_cut_function("def" + dec.decode(x)) for x in ids]
        attempts = _resample(funcs, again, b.retries) if mode == "rejection" else n
        out[f"tokens-{mode}"] = _sample_score(funcs, _cost(stats, before, t0, attempts=attempts))
        out[f"tokens-{mode}"]["example"] = funcs[0][:600]
        log(f"samples tokens-{mode}: {out[f'tokens-{mode}']['compile']}/{n} compile")
    return out


def _cut_function(text: str) -> str:
    return text[: top_level_end(text)].rstrip() + "\n"


def _sample_score(texts: list[str], cost: dict[str, Any]) -> dict[str, Any]:
    n = len(texts)
    valid = sum(compiles(t) for t in texts)
    return {
        "parse": sum(parses(t) for t in texts),
        "compile": valid,
        "undefined_names": sum(bool(undefined_names(t)) for t in texts if compiles(t)),
        "mean_chars": round(sum(len(t) for t in texts) / max(1, n), 1),
        "model_calls_per_program": round(cost["row_calls"] / max(1, n), 1),
        "seconds": round(cost["seconds"], 1),
        "seconds_per_valid_program": round(cost["seconds"] / max(1, valid), 3) if valid else None,
        "mask_ms_per_step": round(1000 * cost["mask_seconds"] / max(1, cost["steps"]), 3),
        **{k: cost[k] for k in ("attempts", "dead_ends") if k in cost},
    }


# ----------------------------------------------------------------------------- the grammar itself


def eval_grammar_coverage(dec: TokenDecoder, docs: list[tuple[str, str]], n: int) -> dict[str, Any]:
    """How much real canonical code the llguidance grammar accepts, and what a mask costs on it."""
    import llguidance.torch as llt

    accepted = tried = tokens = 0
    mask_seconds = 0.0
    rejected: list[str] = []
    bitmask = llt.allocate_token_bitmask(1, dec.config.vocab_size)
    for path, text in docs[:n]:
        if len(text) > 20_000:
            continue
        tried += 1
        m = dec.matcher("module")
        ok = True
        for t in dec.encode(text):
            t0 = time.perf_counter()
            llt.fill_next_token_bitmask(m, bitmask, 0)
            mask_seconds += time.perf_counter() - t0
            tokens += 1
            if not m.consume_token(t):
                ok = False
                break
        if ok and m.is_accepting():
            accepted += 1
        else:
            rejected.append(path)
    return {
        "files": tried,
        "accepted": accepted,
        "rejected_examples": rejected[:5],
        "tokens": tokens,
        "mask_us_per_token": round(1e6 * mask_seconds / max(1, tokens), 1),
    }


# ----------------------------------------------------------------------------- learning curves and report


def learning_curves(b: Budget) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {}
    for name, run in (("ast", b.ast_run), ("tokens", b.token_run)):
        path = Path(b.runs_dir) / run / "metrics.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        out[name] = [
            {"step": r["step"], "positions": r["tokens"], "val_bpc": round(r["val_bpc"], 4)}
            for r in rows
            if r.get("kind") == "eval"
        ]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="small")
    ap.add_argument("--report", default=None, help="markdown report path (default: the budget's)")
    ap.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["functional", "samples", "infill", "bpc"],
        help="leave parts out (their figures are then missing from the report)",
    )
    ap.add_argument("--ast-run", default=None, help="AST run under the budget's runs dir (default: the budget's)")
    ap.add_argument("--token-run", default=None, help="token run folder (default: the budget's)")
    args = ap.parse_args(argv)
    b = BUDGETS[args.budget]
    b = replace(b, ast_run=args.ast_run or b.ast_run, token_run=args.token_run or b.token_run)
    torch.set_num_threads(b.threads)
    t_start = time.perf_counter()
    ensure_data(b)
    ast_ckpt = ensure_run(b, b.ast_run, "ast")
    tok_ckpt = ensure_run(b, b.token_run, "tokens")
    torch.set_num_threads(b.threads)
    train_seconds = time.perf_counter() - t_start
    compiled = default_compiled()
    model, config = load_checkpoint(ast_ckpt, compiled)
    gen = Generator(model, config, compiled, default_codec(), batch_size=b.batch_size)
    tmodel, tconfig, tokenizer = load_token_checkpoint(tok_ckpt)
    dec = TokenDecoder(tmodel, tconfig, tokenizer, batch_size=b.batch_size)
    odec = _outlines_decoder(dec)
    seq_len = int(b.train[b.train.index("--seq-len") + 1])
    context = seq_len + 1
    from training.token_data import load_texts

    tinfo = json.loads((Path(b.token_data) / "test.json").read_text(encoding="utf-8"))
    docs = [(d["path"], t) for d, t in zip(tinfo["documents"], load_texts(b.token_data, "test"))]
    results: dict[str, Any] = {
        "budget": asdict(b),
        "machine": describe(),
        "command": " ".join(["python -m training.compare", *(argv if argv is not None else sys.argv[1:])]),
        "parameters": {
            "ast": sum(p.numel() for p in gen.model.parameters()),
            "tokens": sum(p.numel() for p in dec.model.parameters()),
            # a tree-state model's state embedding sits outside the transformer's module tree
            "ast_state_embedding": getattr(state_embedding(gen.model), "weight", torch.zeros(0)).numel(),
        },
        "training": {
            name: json.loads((Path(b.runs_dir) / run / "checkpoint" / "trainer_state.json").read_text(encoding="utf-8"))
            for name, run in (("ast", b.ast_run), ("tokens", b.token_run))
        },
        "learning_curves": learning_curves(b),
    }
    # the options each run was trained with, as `training.train` flags (the budget's, or a reused run's own)
    results["options"] = {
        name: " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
            for k, v in results["training"][name].pop("args", {}).items()
            if v not in (False, None) and k not in ("name", "runs_dir", "resume", "cpu", "log_every")
        )
        for name in ("ast", "tokens")
    }
    t_eval = time.perf_counter()
    results["grammar"] = eval_grammar_coverage(dec, docs, 60 if b.name == "full" else 15)
    log(f"grammar coverage: {results['grammar']}")
    if "bpc" not in args.skip:
        results["bits_per_char"] = eval_bpc(b, gen, dec, seq_len)
        log(f"bpc: {results['bits_per_char']}")
    if "infill" not in args.skip:
        results["infill"] = eval_infill(b, gen, dec, docs, context, odec)
    if "samples" not in args.skip:
        results["samples"] = eval_samples(b, gen, dec, odec)
    if "functional" not in args.skip:
        results["functional"] = eval_functional(b, gen, dec, docs, context, odec)
    if odec is not None:  # what outlines' API cost beyond the decoding itself
        results["outlines"] = {
            "setup_seconds": round(odec.setup_seconds, 2),
            "prompts": odec.prompts,
            "prompt_mismatches": odec.prompt_mismatches,
            "warnings": odec.warnings,
        }
    results["seconds"] = {
        "setup_and_training": round(train_seconds, 1),
        "evaluation": round(time.perf_counter() - t_eval, 1),
    }
    work = Path(b.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")

    report = Path(args.report or b.report)
    write_report(results, report, work)
    log(f"wrote {report} and {work}/results.json in {time.perf_counter() - t_start:.0f} s")
    return results


if __name__ == "__main__":
    main()
