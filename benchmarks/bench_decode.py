"""Greedy infill throughput of the shipped model: this tree's decoding path against a reference, side by side.

    python -m benchmarks.bench_decode --data data --out docs/bench_decode.json \\
        [--baseline-src /path/to/an/older/checkout]

Holes are cut from test-split files (an equal share of expression / statements / body / argument
holes, seeded) and filled greedily at batch 1, 8 and 64 with one torch thread.  Paths:

* `current`: the defaults (lean forward, host matcher for small CPU batches);
* `batched-ops`: this tree with the transformers forward and the batched tensor matcher only
  (`DecodeConfig(lean=False, host_rows=0)`);
* `baseline`: with `--baseline-src`, the same script run in a subprocess on another checkout of astgen
  (e.g. the commit before this work), so its figures come from the same run on the same machine.

Every path must produce the same fills (greedy, same holes): the report says whether they do, and
the time split into model forward, grammar (mask, hole rules, matcher advance), replay and the rest."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astgen.codec import SPAN_KINDS, default_codec
from astgen.codec.holes import HoledProgram, program_from_spans
from astgen.compiled_default import default_compiled
from astgen.decoding import DecodeConfig, DecodeStats
from astgen.generator import Generator
from astgen.model import load_checkpoint
from training.data import load_spans, load_split
from training.fim import FimConfig, sample_holes
from training.machine import cpu_name

# every path decodes by the baseline's rules (no_repeat and repeat_penalty, newer, change what statement
# fills write)
_OLD_RULES = {"no_repeat": False, "repeat_penalty": 0.0}
PATHS = {"current": _OLD_RULES, "batched-ops": {"lean": False, "host_rows": 0, **_OLD_RULES}}


def test_holes(data: str, n: int, seed: int, hole_id: int, max_hole: int) -> list[HoledProgram]:
    stream, info = load_split(data, "test")
    spans = load_spans(data, "test", info)
    docs = info["documents"]
    rng = np.random.default_rng(seed)
    cfg = FimConfig(extra_holes=0.0, max_hole=max_hole)
    out: list[HoledProgram] = []
    for kind in range(len(SPAN_KINDS)):
        while len(out) < (kind + 1) * (n // len(SPAN_KINDS)):
            doc = docs[int(rng.integers(len(docs)))]
            holes = sample_holes(doc, spans, rng, cfg, kind=kind)
            if holes:
                off = int(doc["offset"])
                actions = stream[off : off + int(doc["length"])].astype(np.int64).tolist()
                out.append(program_from_spans(actions, holes, hole_id))
    return out


def _config(max_actions: int, options: dict[str, Any]) -> DecodeConfig:
    known = {f.name for f in dataclasses.fields(DecodeConfig)}  # (an older checkout lacks newer options)
    return DecodeConfig(max_actions=max_actions, **{k: v for k, v in options.items() if k in known})


def run(gen: Generator, programs: list[HoledProgram], batch: int, cfg: DecodeConfig) -> tuple[dict[str, Any], list]:
    gen.batch_size = batch
    gen.stats = DecodeStats()
    t0 = time.perf_counter()
    fills = gen.fill(programs, cfg)
    wall = time.perf_counter() - t0
    s = gen.stats
    model = getattr(s, "model_seconds", float("nan"))
    row = {
        "batch": batch,
        "holes": s.holes,
        "actions": s.actions,
        "forced_share": round(s.forced / max(1, s.actions), 4),
        "model_calls_per_hole": round(s.model_calls / max(1, s.holes), 1),
        "actions_per_s": round(s.actions / wall, 1),
        "ms_per_hole": round(1000 * wall / max(1, s.holes), 1),
        "seconds": round(wall, 2),
        "share_model": round(model / wall, 3),
        "share_grammar": round(s.mask_seconds / wall, 3),
        "share_replay": round(s.replay_seconds / wall, 3),
        "share_rest": round(1 - (model + s.mask_seconds + s.replay_seconds) / wall, 3),
    }
    return row, fills


def measure(args: argparse.Namespace, paths: list[str]) -> dict[str, Any]:
    """Every (path, batch) row and each path's fills, in this process's astgen."""
    torch.set_num_threads(args.threads)
    compiled = default_compiled()
    model, config = load_checkpoint(args.checkpoint, compiled)
    gen = Generator(model, config, compiled, default_codec())
    single = test_holes(args.data, args.holes1, args.seed, config.hole_id, args.max_actions)
    many = test_holes(args.data, args.holes, args.seed + 1, config.hole_id, args.max_actions)
    import astgen

    print(f"astgen from {Path(astgen.__file__).parent}", file=sys.stderr)
    rows, fills = [], {}
    for name in paths:
        cfg = _config(args.max_actions, PATHS.get(name, {}))
        run(gen, single[:4], 1, cfg)  # warm up (tables, allocator, the lean copy)
        for batch, programs in ((1, single), (8, many), (64, many)):
            row, got = run(gen, programs, batch, cfg)
            rows.append({"path": name, **row})
            fills[f"{name}/{batch}"] = got
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows, "fills": fills}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=Path("astgen/checkpoints/default"))
    ap.add_argument("--data", default="data")
    ap.add_argument("--holes1", type=int, default=200, help="holes decoded at batch 1")
    ap.add_argument("--holes", type=int, default=256, help="holes decoded at batch 8 and 64")
    ap.add_argument("--max-actions", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-src", type=Path, help="another astgen checkout, measured in a subprocess")
    ap.add_argument("--paths", default="current,batched-ops")
    ap.add_argument("--raw-out", type=Path, help=argparse.SUPPRESS)  # (the subprocess's answer)
    ap.add_argument("--out", type=Path, default=Path("docs/bench_decode.json"))
    args = ap.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    if args.raw_out is not None:
        args.raw_out.write_text(json.dumps(measure(args, paths)), encoding="utf-8")
        return
    result = measure(args, paths)
    baseline_rev = None
    if args.baseline_src is not None:  # this script, on the other checkout's astgen
        src = args.baseline_src.resolve()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "baseline.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--paths", "baseline", "--raw-out", str(raw)]
            cmd += ["--checkpoint", str(args.checkpoint.resolve()), "--data", str(Path(args.data).resolve())]
            for k in ("holes1", "holes", "max_actions", "threads", "seed"):
                cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
            subprocess.run(cmd, cwd=src, env={**os.environ, "PYTHONPATH": str(src)}, check=True)
            got = json.loads(raw.read_text(encoding="utf-8"))
        result["rows"] = got["rows"] + result["rows"]
        result["fills"] = {**got["fills"], **result["fills"]}
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        baseline_rev = rev.stdout.strip()
    by_batch: dict[str, list] = {}
    for key, got_fills in result.pop("fills").items():
        by_batch.setdefault(key.rsplit("/", 1)[1], []).append(got_fills)
    equal = {b: all(v == vs[0] for v in vs) for b, vs in by_batch.items()}
    report = {
        "machine": f"{cpu_name()}, {args.threads} torch thread(s), CPU",
        "torch": torch.__version__,
        "checkpoint": str(args.checkpoint),
        "max_actions": args.max_actions,
        "baseline": f"{args.baseline_src} at {baseline_rev}" if baseline_rev else None,
        "greedy_fills_equal_across_paths": equal,
        "rows": result["rows"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print("| path | batch | holes | actions/s | ms/hole | model | grammar | replay | rest |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        print(
            f"| {r['path']} | {r['batch']} | {r['holes']} | {r['actions_per_s']} | {r['ms_per_hole']} | "
            f"{r['share_model']:.0%} | {r['share_grammar']:.0%} | {r['share_replay']:.0%} | {r['share_rest']:.0%} |"
        )
    print(f"greedy fills equal across paths, per batch size: {equal}")


if __name__ == "__main__":
    main()
