"""Grammar-constrained token decoding, direct llguidance vs outlines' public API, on a token checkpoint.

The same prompts as `training.compare` (infill cases of each kind from the test split, greedy; whole
functions from `<bos> def`, temperature 0.8, top-p 0.95), decoded by

  grammar    TokenDecoder.generate(..., grammars=...)  (llguidance.LLMatcher driven directly)
  outlines   OutlinesDecoder.generate(...)            (outlines.from_transformers + outlines.types.CFG)

Per mode: compile rate, model calls per program (row calls, as the report counts them), wall seconds
per valid program, constraint ms per generated token and per step; for outlines also the one-off
set-up (models, generators) and how many prompts did not survive outlines' text round trip.  Both
decoders are warmed up first (imports, llguidance's torch kernels); the warm-up is reported alone.

    OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 taskset -c 1 .venv/bin/python -m benchmarks.bench_outlines \\
        --checkpoint runs/compare-small/tokens/checkpoint --data runs/compare-small/data/tokens \\
        --per-kind 16 --samples 8 --out runs/bench_outlines.json
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # llguidance / tokenizers thread pools; read at first use
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from astgen.research.baseline import load_token_checkpoint
from astgen.research.cases import compiles, parses, sample_cases
from astgen.research.token_decoding import TokenDecoder, TokenDecodeStats, top_level_end
from astgen.research.token_outlines import OutlinesDecoder


def _delta(now: TokenDecodeStats, before: TokenDecodeStats) -> dict[str, float]:
    return {k: getattr(now, k) - getattr(before, k) for k in vars(now)}


def _copy(s: TokenDecodeStats) -> TokenDecodeStats:
    return TokenDecodeStats(**vars(s))


def _row(n: int, valid: int, parsed: int, seconds: float, d: dict[str, float], setup: float = 0.0) -> dict[str, Any]:
    tokens = max(1, int(d["tokens"]))
    return {
        "n": n,
        "compile": valid,
        "parse": parsed,
        "compile_rate": round(valid / max(1, n), 3),
        "model_calls_per_program": round(d["row_calls"] / max(1, n), 1),
        "batched_forwards": int(d["model_calls"]),
        "tokens": int(d["tokens"]),
        "seconds": round(seconds, 2),
        "seconds_per_valid_program": round(seconds / valid, 3) if valid else None,
        "constraint_ms_per_token": round(1000 * d["mask_seconds"] / tokens, 3),
        "constraint_ms_per_token_without_setup": round(1000 * (d["mask_seconds"] - setup) / tokens, 3),
        "constraint_ms_per_step": round(1000 * d["mask_seconds"] / max(1, d["steps"]), 3),
        "setup_seconds": round(setup, 3),
        "dead_ends": int(d["dead_ends"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="runs/compare-small/tokens/checkpoint")
    ap.add_argument("--data", default="runs/compare-small/data/tokens", help="token corpus (its test split)")
    ap.add_argument("--per-kind", type=int, default=16, help="infill cases of each kind")
    ap.add_argument("--samples", type=int, default=8, help="generated functions")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--context", type=int, default=257, help="model window (compare: seq-len + 1)")
    ap.add_argument("--modes", nargs="+", default=["grammar", "outlines"], choices=["grammar", "outlines"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True, help="JSON results path")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from training.compare import _cut_function, _infill_prompt, _start_rule, max_hole
    from training.machine import cpu_name
    from training.token_data import load_texts

    model, config, tokenizer = load_token_checkpoint(args.checkpoint)
    dec = TokenDecoder(model, config, tokenizer, batch_size=args.batch_size)
    od = OutlinesDecoder(dec)
    info = json.loads((Path(args.data) / "test.json").read_text(encoding="utf-8"))
    docs = [(d["path"], t) for d, t in zip(info["documents"], load_texts(args.data, "test"))]
    cases = sample_cases(docs, args.per_kind, seed=0)
    prompts = [_infill_prompt(dec, c, args.context) for c in cases]
    starts = [_start_rule(c) for c in cases]
    hole = max_hole(args.context)
    sep = config.sep_id
    head = dec.encode("def")
    fprompt = [config.bos_id, *head]

    def stop(tokens: list[int]) -> bool:
        text = "def" + dec.decode(tokens)
        return top_level_end(text) < len(text)

    results: dict[str, Any] = {
        "command": "python -m benchmarks.bench_outlines " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{cpu_name()}, torch threads {args.threads}",
        "versions": {},
        "checkpoint": args.checkpoint,
        "infill_cases": len(cases),
        "kinds": {k: sum(c.kind == k for c in cases) for k in sorted({c.kind for c in cases})},
        "samples": args.samples,
    }
    for name in ("outlines", "outlines_core", "llguidance", "transformers", "torch"):
        try:
            from importlib.metadata import version

            results["versions"][name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            results["versions"][name] = None

    # warm-up: imports and llguidance's first-use costs, on one short prompt per decoder
    t0 = time.perf_counter()
    dec.generate([prompts[0]], 4, sep, grammars=[starts[0]])
    results["warmup_seconds"] = {"grammar": round(time.perf_counter() - t0, 2)}
    if "outlines" in args.modes:
        t0 = time.perf_counter()
        od.generate([prompts[0]], [starts[0]], 4, sep)
        results["warmup_seconds"]["outlines"] = round(time.perf_counter() - t0, 2)
    dec.stats, od.stats, od.setup_seconds = TokenDecodeStats(), TokenDecodeStats(), 0.0
    od._generators.clear()  # generator set-up is measured in the runs below (models stay built)

    texts: dict[str, list[list[int]]] = {}
    for mode in args.modes:
        s = dec.stats if mode == "grammar" else od.stats
        before, setup0, t0 = _copy(s), od.setup_seconds, time.perf_counter()
        if mode == "grammar":
            ids = dec.generate(prompts, hole, sep, temperature=0.0, grammars=starts)
        else:
            ids = od.generate(prompts, starts, hole, sep, temperature=0.0)
        seconds = time.perf_counter() - t0
        texts[mode] = ids
        filled = [c.filled_text(dec.decode(x)) for c, x in zip(cases, ids)]
        ok = [compiles(f, c.path) for c, f in zip(cases, filled)]
        row = _row(
            len(cases),
            sum(ok),
            sum(o or parses(f) for o, f in zip(ok, filled)),
            seconds,
            _delta(s, before),
            od.setup_seconds - setup0 if mode == "outlines" else 0.0,
        )
        row["per_kind"] = {
            k: f"{sum(o for c, o in zip(cases, ok) if c.kind == k)}/{results['kinds'][k]}" for k in results["kinds"]
        }
        row["ran_out"] = sum(len(x) >= hole for x in ids)
        results[f"infill-{mode}"] = row
        print(f"infill {mode}: {row}", flush=True)
    if len(texts) == 2:
        results["infill_identical_outputs"] = sum(a == b for a, b in zip(texts["grammar"], texts["outlines"]))

    for mode in args.modes:
        s = dec.stats if mode == "grammar" else od.stats
        n = args.samples
        before, setup0, t0 = _copy(s), od.setup_seconds, time.perf_counter()
        kw: dict[str, Any] = {"temperature": 0.8, "top_p": 0.95, "seed": 0, "forced": [head] * n, "stop": stop}
        if mode == "grammar":
            ids = dec.generate([fprompt] * n, 384, 0, grammars=["funcdef_0"] * n, **kw)
        else:
            ids = od.generate([fprompt] * n, ["funcdef_0"] * n, 384, 0, **kw)
        seconds = time.perf_counter() - t0
        funcs = [_cut_function("def" + dec.decode(x)) for x in ids]
        ok = [compiles(f) for f in funcs]
        row = _row(
            n,
            sum(ok),
            sum(o or parses(f) for o, f in zip(ok, funcs)),
            seconds,
            _delta(s, before),
            od.setup_seconds - setup0 if mode == "outlines" else 0.0,
        )
        row["mean_chars"] = round(sum(len(f) for f in funcs) / max(1, n), 1)
        row["ran_out"] = sum(len(x) >= 384 for x in ids)
        row["example"] = funcs[0][:400]
        results[f"samples-{mode}"] = row
        print(f"samples {mode}: {row}", flush=True)
    if "outlines" in args.modes:
        results["outlines_prompts"] = od.prompts
        results["outlines_prompt_mismatches"] = od.prompt_mismatches
        results["outlines_warnings"] = od.warnings

    cols = (
        "compile",
        "n",
        "model_calls_per_program",
        "seconds_per_valid_program",
        "constraint_ms_per_token",
        "constraint_ms_per_token_without_setup",
        "setup_seconds",
    )
    print("\n| run | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1))
    for key in [k for k in results if k.startswith(("infill-", "samples-"))]:
        print(f"| {key} | " + " | ".join(str(results[key][c]) for c in cols) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
