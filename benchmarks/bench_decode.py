"""Decoding throughput of the shipped model on CPU: batch 1 vs 32, forced-action prefill on vs off.

    python -m benchmarks.bench_decode --data data --holes 64 --threads 2 --out docs/bench_decode.json

Holes are cut from test-split files (an equal share of expression / statements / body / argument
holes, seeded) and filled greedily, so both prefill settings produce identical programs (a test
checks this) and differ only in how many model calls they need."""

from __future__ import annotations

import argparse
import json
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


def run(gen: Generator, programs: list[HoledProgram], batch: int, prefill: bool, max_actions: int) -> dict[str, Any]:
    gen.batch_size = batch
    gen.stats = DecodeStats()
    t0 = time.perf_counter()
    gen.fill(programs, DecodeConfig(max_actions=max_actions, prefill_forced=prefill))
    wall = time.perf_counter() - t0
    s = gen.stats
    return {
        "batch": batch,
        "prefill_forced": prefill,
        "holes": s.holes,
        "actions": s.actions,
        "forced_share": round(s.forced / max(1, s.actions), 4),
        "model_calls": s.model_calls,
        "model_calls_per_hole": round(s.model_calls / max(1, s.holes), 1),
        "actions_per_hole": round(s.actions / max(1, s.holes), 1),
        "actions_per_s": round(s.actions / wall, 1),
        "seconds": round(wall, 2),
        "replay_seconds": round(s.replay_seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=Path("astgen/checkpoints/default"))
    ap.add_argument("--data", default="data")
    ap.add_argument("--holes", type=int, default=64)
    ap.add_argument("--batch1-holes", type=int, default=16, help="holes decoded one at a time (slow)")
    ap.add_argument("--max-actions", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/bench_decode.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    compiled = default_compiled()
    model, config = load_checkpoint(args.checkpoint, compiled)
    gen = Generator(model, config, compiled, default_codec())
    programs = test_holes(args.data, args.holes, args.seed, config.hole_id, args.max_actions)
    step = max(1, len(programs) // args.batch1_holes)
    single = programs[::step][: args.batch1_holes]
    run(gen, single[:2], 1, True, args.max_actions)  # warm up (tables, allocator)
    rows = []
    for prefill in (True, False):
        rows.append(run(gen, single, 1, prefill, args.max_actions))
        rows.append(run(gen, programs, 32, prefill, args.max_actions))
    report = {
        "machine": f"{cpu_name()}, {args.threads} torch threads, CPU",
        "torch": torch.__version__,
        "checkpoint": str(args.checkpoint),
        "max_actions": args.max_actions,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print("| batch | prefill | holes | actions/hole | forced share | model calls/hole | actions/s | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['batch']} | {'on' if r['prefill_forced'] else 'off'} | {r['holes']} | {r['actions_per_hole']} | "
            f"{r['forced_share']:.1%} | {r['model_calls_per_hole']} | {r['actions_per_s']} | {r['seconds']} |"
        )


if __name__ == "__main__":
    main()
