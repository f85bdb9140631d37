"""Learning curve of a run: training loss and validation bits per character vs actions seen.

python -m training.plot --run runs/default --out docs/learning_curve.png"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["main", "plot"]


def plot(metrics: Path, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_x, train_y, val_x, val_y = [], [], [], []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["kind"] == "train":
            train_x.append(r["tokens"])
            train_y.append(r["train_loss"] / math.log(2))
        elif r["kind"] == "eval":
            val_x.append(r["tokens"])
            val_y.append(r["val_bpc"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(train_x, train_y, color="tab:blue", alpha=0.7, label="training loss (bits per action, FIM + plain mix)")
    ax.set_xlabel("training actions seen")
    ax.set_ylabel("bits per action", color="tab:blue")
    ax.set_ylim(0, max(train_y[len(train_y) // 10 :] or [1]) * 1.1)
    ax2 = ax.twinx()
    ax2.plot(val_x, val_y, "o-", color="tab:red", label="validation bits per character")
    ax2.set_ylabel("validation bits per character of canonical source", color="tab:red")
    ax2.set_ylim(0, max(val_y or [1]) * 1.1)
    ax.set_title(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("runs/default"))
    ap.add_argument("--out", type=Path, default=Path("docs/learning_curve.png"))
    args = ap.parse_args(argv)
    plot(args.run / "metrics.jsonl", args.out, f"astgen {args.run.name}: learning curve")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
