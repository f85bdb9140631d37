"""Draw docs/architecture.png: astgen's layers (bottom to top) and the pipeline through them.

    python docs/architecture.py            # needs matplotlib (the `train` extra)

The layers are the ones tests/test_layout_imports.py enforces: a box may import only boxes below it."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

# (key, x, y, width, title, lines): y is the layer (0 = bottom)
BOXES = [
    ("grammars", 0.2, 0, 2.6, "grammars/  (data)", ["python.grammar: the DSL", "python.pieces.json: subword pieces"]),
    (
        "grammar",
        3.2,
        0,
        4.2,
        "astgen.grammar  (torch-free)",
        ["DSL -> Grammar IR -> compile -> CompiledGrammar", "action alphabet, pieces, lexical DFAs, replay"],
    ),
    (
        "codec",
        0.2,
        1,
        4.3,
        "astgen.codec  (torch-free)",
        ["source <-> ast <-> GNode tree <-> action ids", "lower / lift / actions; holes and their layout"],
    ),
    ("validity", 5.1, 1, 2.3, "validity, roundtrip", ["ast / compile /", "tree-sitter oracles"]),
    (
        "decode",
        0.2,
        2,
        7.2,
        "decoding layer: matcher, decoding, stepping, sampling, model, logits_processor  (torch)",
        [
            "batched grammar mask on the model's device; KV-cache stepping with forced-action prefill;",
            "ModelConfig + safetensors checkpoints pinned to the grammar; transformers LogitsProcessor",
        ],
    ),
    (
        "generator",
        0.2,
        3,
        7.2,
        "astgen.generator: the library surface",
        ["load() -> Generator: infill, infill_batch, fill_holes, generate"],
    ),
    (
        "refactor",
        0.2,
        4,
        3.5,
        "astgen.refactor  (LibCST)",
        ["splice: bytes -> bytes, holes only", "files, runner, codemod (HoleFiller)"],
    ),
    (
        "research",
        3.9,
        4,
        3.5,
        "astgen.research",
        ["token baseline checkpoints + decoding,", "infill cases, functional checks"],
    ),
    (
        "cli",
        0.2,
        5,
        7.2,
        "astgen.cli  (commands only)",
        ["infill, rewrite, generate, demo, grammar ..., compare (launches training.compare)"],
    ),
    (
        "training",
        7.9,
        2.5,
        2.6,
        "training/  (source checkout)",
        ["data, fim, train, evaluate,", "token_data, compare + report", "(imports astgen; not shipped)"],
    ),
]
ARROWS = [  # (from, to, label, x of a vertical arrow or None): the pipeline, data flowing upwards
    ("grammars", "grammar", "load", None),
    ("grammar", "codec", "vocabulary", 3.8),
    ("grammar", "decode", "tables", 4.8),
    ("codec", "decode", "action ids", 2.0),
    ("decode", "generator", "actions", 3.8),
    ("generator", "refactor", "fills", 2.0),
    ("generator", "cli", "", 3.8),
    ("refactor", "cli", "", 2.0),
    ("decode", "training", "model, batches", None),
]
HEIGHT = 0.78


def draw(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(12, 8.2))
    centre: dict[str, tuple[float, float]] = {}
    for key, x, y, w, title, lines in BOXES:
        fill = "#f3f0e8" if key in ("grammars", "training") else "#e8f0f8"
        ax.add_patch(FancyBboxPatch((x, y), w, HEIGHT, boxstyle="round,pad=0.02", fc=fill, ec="#335", lw=1.2))
        ax.text(x + 0.08, y + HEIGHT - 0.12, title, fontsize=9.5, fontweight="bold", va="top")
        ax.text(x + 0.08, y + HEIGHT - 0.36, "\n".join(lines), fontsize=8, va="top", linespacing=1.3)
        centre[key] = (x + w / 2, y + HEIGHT / 2)
    spans = {key: (x, y, w) for key, x, y, w, *_ in BOXES}
    for a, b, label, x in ARROWS:
        (xa, ya, wa), (xb, yb, _) = spans[a], spans[b]
        if x is not None:  # vertically stacked: a straight arrow up from the top of `a`
            (x0, y0), (x1, y1) = (x, ya + HEIGHT), (x, yb)
            at, align = ((x0 + 0.05, (y0 + y1) / 2)), "left"
        else:  # side by side: from the right edge of `a` to the left edge of `b`
            (x0, y0), (x1, y1) = (xa + wa, centre[a][1]), (xb, centre[b][1])
            at, align = ((x0 + x1) / 2, max(y0, y1) + 0.08), "center"
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, color="#555", lw=1))
        if label:
            ax.text(*at, label, fontsize=7.5, color="#444", va="bottom" if x is None else "center", ha=align)
    ax.set_xlim(0, 10.7)
    ax.set_ylim(-0.2, 6)
    ax.axis("off")
    ax.set_title("astgen: layers (each imports only those below) and the pipeline", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("architecture.png"))
