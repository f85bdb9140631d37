"""Representation ablation of issue 14: one schedule, one seed, one budget, four input layouts.

    python -m training.ablate [--runs-dir runs] [--out docs/ablation.json] [--only NAME ...]

Every variant is `training.train` with the shipped model's size and optimiser, 250 steps of 16 x 512
positions (2.05M positions, the issue's medium budget), a 30-step warmup, one validation at the end
over the same 65,536 validation actions' documents, and differs only in its input layout:

- `spelled`: the grammar's actions, names spelled in pieces (the checkpoint before issue 14);
- `tree`: + the grammar state of the next action as an input embedding (`--tree-features`);
- `refs`: + names already in the context as one reference token (`--name-refs 64`);
- `refs-tree`: both.

Runs are resumable (a variant with a checkpoint continues with `--resume`, a finished one is read
back), so the script can be stopped and started again; the table is rewritten after every variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["VARIANTS", "SCHEDULE", "main"]

SCHEDULE: tuple[str, ...] = tuple(
    (
        "--steps 250 --hidden 192 --intermediate 768 --heads 4 --layers 4 --batch-size 16 --seq-len 512 "
        "--lr 2e-3 --warmup 30 --eval-every 0 --eval-tokens 65536 --save-every 25 --seed 0"
    ).split()
)
VARIANTS: dict[str, tuple[str, ...]] = {
    "refs-tree": ("--tree-features", "--name-refs", "64"),
    "refs": ("--name-refs", "64"),
    "tree": ("--tree-features",),
    "spelled": (),
}


def _state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "checkpoint" / "trainer_state.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _final_eval(run_dir: Path) -> dict[str, Any] | None:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    evals = [r for r in rows if r.get("kind") == "eval"]
    return evals[-1] if evals else None


def run_variant(name: str, runs_dir: str, threads: int) -> dict[str, Any]:
    """Train (or finish, or read back) one variant; returns its row of the table."""
    from training import train

    run = f"ablate-{name}"
    run_dir = Path(runs_dir) / run
    state = _state(run_dir)
    steps = int(SCHEDULE[SCHEDULE.index("--steps") + 1])
    t0 = time.perf_counter()
    if state is None or int(state["step"]) < steps:
        args = ["--name", run, "--runs-dir", runs_dir, "--threads", str(threads)]
        args += ["--resume"] if state is not None else [*SCHEDULE, *VARIANTS[name]]
        print(f"[ablate] python -m training.train {' '.join(args)}", file=sys.stderr, flush=True)
        train.main(args)
    final = _final_eval(run_dir)
    if final is None:
        raise SystemExit(f"error: {run_dir} finished without a validation row (was --eval-tokens 0?)")
    return {
        "variant": name,
        "flags": " ".join(VARIANTS[name]),
        "step": final["step"],
        "positions": final["tokens"],
        "val_bpc": round(final["val_bpc"], 4),
        "train_seconds_this_call": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--out", default="docs/ablation.json")
    ap.add_argument("--only", nargs="*", choices=sorted(VARIANTS), default=None, help="variants to run (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    out_path = Path(args.out)
    table: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8")) if out_path.is_file() else {}
    table["schedule"] = " ".join(SCHEDULE)
    rows = table.setdefault("variants", {})
    for name in args.only or list(VARIANTS):
        rows[name] = run_variant(name, args.runs_dir, args.threads)
        out_path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        print(f"[ablate] {name}: val bpc {rows[name]['val_bpc']}", file=sys.stderr, flush=True)
    return table


if __name__ == "__main__":
    main()
