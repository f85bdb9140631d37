"""Export a training run's checkpoint as the shipped model: fp16 weights, no optimizer state.

    python -m training.export --run runs/default --out astgen/checkpoints/default

The folder gets config.json + model.safetensors + astgen.json (grammar hashes, model config, and
under "training" the step, actions seen and the last validation figures of the run)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from astgen.compiled_default import default_compiled
from astgen.model import load_checkpoint, save_checkpoint, state_embedding

__all__ = ["export", "main"]


def _last_eval(metrics: Path) -> dict[str, Any]:
    last: dict[str, Any] = {}
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "eval":
                last = record
    return last


def export(run: Path, out: Path) -> dict[str, Any]:
    """Write the run's checkpoint to `out` in half precision; returns the training summary stored."""
    compiled = default_compiled()
    model, config = load_checkpoint(run / "checkpoint", compiled)
    state = json.loads((run / "checkpoint" / "trainer_state.json").read_text(encoding="utf-8"))
    evaluation = _last_eval(run / "metrics.jsonl")
    summary = {
        "run": run.name,
        "step": state["step"],
        "actions_seen": state["tokens"],
        "train_seconds": round(float(state["elapsed"]), 1),
        "args": state["args"],
        "last_eval": evaluation,
        "weights_dtype": "float16",
    }
    model = model.to(torch.float16)
    states = state_embedding(model)
    if states is not None:
        states.to(torch.float16)
    save_checkpoint(model, config, out, compiled, extra=summary)
    for leftover in ("generation_config.json",):
        (out / leftover).unlink(missing_ok=True)
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/default"), help="training run folder")
    ap.add_argument("--out", type=Path, default=Path("astgen/checkpoints/default"), help="export folder")
    args = ap.parse_args(argv)
    summary = export(args.run, args.out)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(
        f"exported step {summary['step']} ({summary['actions_seen']:,} actions seen) to {args.out}: {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
