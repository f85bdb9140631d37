"""The comparison report: markdown tables and matplotlib plots from `training.compare`'s results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from astgen.research.cases import CASE_KINDS

__all__ = ["main", "name_refs_of", "plot_all", "wins", "write_report"]

SYSTEMS = ("ast", "tokens-free", "tokens-grammar", "tokens-outlines", "tokens-rejection")
LABELS = {
    "ast": "AST model (grammar mask)",
    "tokens-free": "tokens, unconstrained",
    "tokens-grammar": "tokens + llguidance grammar",
    "tokens-outlines": "tokens + outlines CFG",
    "tokens-rejection": "tokens + compile-and-resample",
}
CONSTRAINED = ("ast", "tokens-grammar", "tokens-outlines")  # systems whose constraint cost per step is measured


def _systems(section: dict[str, Any]) -> tuple[str, ...]:
    """The systems a results section has (outlines is optional; older results lack it), in SYSTEMS order."""
    return tuple(s for s in SYSTEMS if s in section)


def _tokens(section: dict[str, Any]) -> tuple[str, ...]:
    return tuple(s for s in _systems(section) if s != "ast")


KINDS = CASE_KINDS
NOTES = "report_notes.md"


def _pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100 * a / n:.1f}%)" if n else "–"


def plot_all(results: dict[str, Any], out: Path) -> list[str]:
    """PNG plots next to the report; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []

    curves = results.get("learning_curves", {})
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, label in (("ast", "AST model"), ("tokens", "token baseline")):
            pts = curves.get(name, [])
            if pts:
                ax.plot([p["positions"] / 1e6 for p in pts], [p["val_bpc"] for p in pts], marker="o", label=label)
        ax.set_xlabel("training positions (millions: actions / BPE tokens)")
        ax.set_ylabel("validation bits per character")
        ax.set_title("Learning curves (same validation documents)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "learning_curves.png", dpi=110)
        plt.close(fig)
        names.append("learning_curves.png")

    infill = results.get("infill")
    if infill:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        width = 0.8 / len(_systems(infill))
        for j, metric in enumerate(("exact", "compile")):
            ax = axes[j]
            shown = _systems(infill)
            for i, system in enumerate(shown):
                per = infill[system]["per_kind"]
                vals = [100 * per[k][metric] / per[k]["n"] if k in per and per[k]["n"] else 0 for k in KINDS]
                offset = (i - (len(shown) - 1) / 2) * width
                ax.bar([x + offset for x in range(len(KINDS))], vals, width, label=LABELS[system])
            ax.set_xticks(range(len(KINDS)), ["expression", "statements", "function body", "argument"])
            ax.set_ylabel(f"{metric} rate (%)")
            ax.set_title(f"Infill {metric} by hole kind")
            ax.set_ylim(0, 105)
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend(fontsize=8, loc="upper right", framealpha=0.9)
        fig.tight_layout()
        fig.savefig(out / "infill_by_kind.png", dpi=110)
        plt.close(fig)
        names.append("infill_by_kind.png")

    samples = results.get("samples")
    if samples:
        fig, ax = plt.subplots(figsize=(6, 4))
        n = samples["n"]
        shown = _systems(samples)
        xs = range(len(shown))
        ax.bar([x - 0.2 for x in xs], [100 * samples[s]["parse"] / n for s in shown], 0.4, label="parse")
        ax.bar([x + 0.2 for x in xs], [100 * samples[s]["compile"] / n for s in shown], 0.4, label="compile")
        ax.set_xticks(list(xs), [LABELS[s].replace(" + ", "\n+ ").replace(", ", ",\n") for s in shown], fontsize=8)
        ax.set_ylabel("% of sampled functions")
        ax.set_title("Generated functions that parse / compile")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "samples_valid.png", dpi=110)
        plt.close(fig)
        names.append("samples_valid.png")
    return names


def _verdict(label: str, ast_value: float | None, tok_value: float | None, tok_name: str, lower_wins: bool) -> str:
    if ast_value is None or tok_value is None:
        return f"- {label}: not measured"
    if ast_value == tok_value:
        return f"- {label}: AST {ast_value} = {tok_name} {tok_value} (tie)"
    ast_wins = (ast_value < tok_value) == lower_wins
    who = "**AST model**" if ast_wins else f"**token model ({tok_name})**"
    return f"- {label}: AST {ast_value} vs {tok_name} {tok_value} -> {who} wins"


def wins(results: dict[str, Any]) -> list[str]:
    """One line per headline metric saying which model wins it (the best token decoding mode counts)."""
    out: list[str] = []
    if "bits_per_char" in results:
        r = results["bits_per_char"]
        out.append(
            _verdict(
                "bits per character (test)",
                r["ast"]["bits_per_char"],
                r["tokens"]["bits_per_char"],
                "tokens",
                lower_wins=True,
            )
        )
    if "infill" in results:
        inf = results["infill"]
        for k in KINDS:
            if k not in inf["ast"]["per_kind"]:
                continue
            rate = {s: inf[s]["per_kind"][k]["exact"] / max(1, inf[s]["per_kind"][k]["n"]) for s in _systems(inf)}
            best = max(_tokens(inf), key=lambda s: rate[s])
            out.append(_verdict(f"infill exact match, {k}", round(rate["ast"], 3), round(rate[best], 3), best, False))
        best = max(_tokens(inf), key=lambda s: inf[s]["compile"])
        out.append(
            _verdict(
                "infill compile rate",
                round(inf["ast"]["compile"] / inf["cases"], 3),
                round(inf[best]["compile"] / inf["cases"], 3),
                best,
                False,
            )
        )
        fastest = min(_tokens(inf), key=lambda s: inf[s]["seconds_per_valid_program"])
        out.append(
            _verdict(
                "infill wall seconds per valid program",
                inf["ast"]["seconds_per_valid_program"],
                inf[fastest]["seconds_per_valid_program"],
                fastest,
                True,
            )
        )
        fewest = min(_tokens(inf), key=lambda s: inf[s]["model_calls_per_program"])
        out.append(
            _verdict(
                "infill model calls per program",
                inf["ast"]["model_calls_per_program"],
                inf[fewest]["model_calls_per_program"],
                fewest,
                True,
            )
        )
    if "functional" in results:
        f = results["functional"]
        best = max(_tokens(f), key=lambda s: f[s]["pass"])
        out.append(_verdict("functional checks passed", f["ast"]["pass"], f[best]["pass"], best, False))
    if "samples" in results:
        sm = results["samples"]
        best = max(_tokens(sm), key=lambda s: sm[s]["compile"])
        out.append(_verdict("generated functions that compile", sm["ast"]["compile"], sm[best]["compile"], best, False))
    return out


def name_refs_of(options: str) -> int:
    """The `--name-refs N` of a run's training options (0: names spelled)."""
    words = options.split()
    return int(words[words.index("--name-refs") + 1]) if "--name-refs" in words else 0


def write_report(results: dict[str, Any], path: Path, plots_dir: Path) -> None:
    """docs/report.md (or the budget's report path) with every figure and how it was produced; the
    hand-written `report_notes.md` beside it, if there is one, is appended."""
    plots = plot_all(results, plots_dir)
    rel = os.path.relpath(plots_dir, path.parent)
    b = results["budget"]
    cmd = results["command"]
    mach = results["machine"]
    lines: list[str] = []
    w = lines.append
    w("# AST-level vs token-level generation: the comparison report\n")
    w(
        f"Produced by `{cmd}` on {mach}; evaluation took {results['seconds']['evaluation']:.0f} s "
        f"(setup and training in this invocation: {results['seconds']['setup_and_training']:.0f} s; runs that "
        "already existed were reused).  Raw numbers: `results.json` beside the plots.\n"
    )
    w("## Setup and fairness rule\n")
    p = results["parameters"]
    states = p.get("ast_state_embedding", 0)
    extra = (
        f"; the AST model also has a tree-state embedding of {states:,} parameters (`--tree-features`), a lookup "
        "table added to the input embedding, which costs no computation per position"
        if states
        else ""
    )
    refs = name_refs_of(results.get("options", {}).get("ast", ""))
    vocab = f"the action vocabulary and its {refs} name-reference ids" if refs else "the action vocabulary"
    w(
        f"- Same architecture (`LlamaForCausalLM`, {p['ast']:,} vs {p['tokens']:,} parameters in the transformer: "
        f"the BPE vocabulary has as many ids as {vocab}, the AST model adds its four model-only "
        f"tokens{extra})."
    )
    tr = results["training"]
    w(
        f"- Same budget in optimizer steps x batch x sequence positions: AST {tr['ast']['step']} steps / "
        f"{tr['ast']['tokens']:,} positions ({tr['ast']['elapsed']:.0f} s), tokens {tr['tokens']['step']} steps / "
        f"{tr['tokens']['tokens']:,} positions ({tr['tokens']['elapsed']:.0f} s).  "
        "A position is an action for one and a "
        "BPE token for the other; equal positions cost equal FLOPs (same model, same sequence length)."
    )
    options = results.get("options") or {"both": " ".join(b["train"])}
    shown = "; ".join(f"{k}: `{v}`" for k, v in options.items())
    w(
        f"- Same training documents ({b['data']}), same fill-in-the-middle share (50%) and hole kinds; training "
        f"options ({shown})."
    )
    w("")
    if "grammar" in results:
        g = results["grammar"]
        from astgen.research import python_lark

        w("## The token model's grammar constraint\n")
        w("llguidance (Lark syntax) with `astgen/research/python_lark.py`: " + python_lark.__doc__.split("\n\n", 1)[1])
        w(
            f"\nOn {g['files']} canonical test-split files (up to 20,000 characters) the grammar accepts "
            f"{_pct(g['accepted'], g['files'])}; computing one mask costs {g['mask_us_per_token']} µs per token on "
            f"this CPU ({g['tokens']:,} tokens).\n"
        )
    if "bits_per_char" in results:
        r = results["bits_per_char"]
        w("## Bits per character of canonical source (held-out test documents)\n")
        w(
            f"{r['documents']} test documents, {r['chars']:,} canonical characters, each position scored once with at "
            "least half a window of context.\n"
        )
        w("| model | positions | chars / position | bits / position | **bits / char** |")
        w("|---|---|---|---|---|")
        for name in ("ast", "tokens"):
            m = r[name]
            w(
                f"| {name} | {m['positions']:,} | {m['chars_per_position']} | {m['bits_per_position']} | "
                f"**{m['bits_per_char']}** |"
            )
        w("")
        split = r["ast"].get("bits_per_char_by_position")
        if split:
            w(
                "The AST model's bits per character by what each predicted position spells (they sum to its total; "
                "`training.evaluate.POSITION_KINDS`: a piece of a name that is read, of any other name, of a literal, "
                "a whole name as one reference token, a terminal's `<end>`, or structure):\n"
            )
            w("| " + " | ".join(split) + " |")
            w("|" + "---|" * len(split))
            w("| " + " | ".join(str(v) for v in split.values()) + " |")
            w("")
    if "learning_curves.png" in plots:
        w(f"![learning curves]({rel}/learning_curves.png)\n")
        w("Validation bits per character during training (the runs' own validation documents, the same for both).\n")
    if "infill" in results:
        inf = results["infill"]
        w("## Infilling held-out code\n")
        w(
            f"{inf['cases']} holes cut from test-split files (seeded; an equal number per kind), greedy decoding, "
            "one hole per file, the same context window (in each model's own positions).  *Exact* = the filled "
            "module's AST equals the original's.  Rejection resamples (temperature 0.7) a non-compiling fill up to "
            f"{b['retries']} times.\n"
        )
        w(
            "*Undefined names* = compiled fills whose own code reads a name nothing binds there (pyflakes F821/F823 "
            "reports the filled file has and neither the original nor the file with the hole left empty has).\n"
        )
        w("| system | kind | n | parse | compile | exact | undefined names in the fill |")
        w("|---|---|---|---|---|---|---|")
        for s in _systems(inf):
            for k in KINDS:
                row = inf[s]["per_kind"].get(k)
                if row:
                    w(
                        f"| {LABELS[s]} | {k} | {row['n']} | {_pct(row['parse'], row['n'])} | "
                        f"{_pct(row['compile'], row['n'])} | {_pct(row['exact'], row['n'])} | "
                        f"{row.get('undefined_in_fill', '–')} |"
                    )
        w("")
        w("| system | model calls / program | wall s / valid program | constraint ms / step |")
        w("|---|---|---|---|")
        for s in _systems(inf):
            m = inf[s]
            w(
                f"| {LABELS[s]} | {m['model_calls_per_program']} | {m['seconds_per_valid_program']} | "
                f"{m['mask_ms_per_step'] if s in CONSTRAINED else '–'} |"
            )
        w("")
        if "infill_by_kind.png" in plots:
            w(f"![infill by kind]({rel}/infill_by_kind.png)\n")
    if "functional" in results:
        f = results["functional"]
        w("## Functional pass rate\n")
        w(
            f"{f['tasks']} held-out functions from the test split whose doctests pass on the original code and "
            "fail when the body is replaced by `raise` (doctests only: a `test*` function's own body is its check; "
            f"at most two per file, files in seeded random order; found in {f['find_seconds']} s).  "
            f"{f['holes']} holes inside them (expression, statement, body after the docstring) that the doctest "
            f"executes: {f['unexercised_dropped']} holes that a raising fill did not break were dropped.  The "
            "filled module runs in a sandboxed subprocess (`python -s -P`, fresh environment and temp dir, "
            "address-space 512 MiB, CPU-time, file-size and open-file limits, 10 s wall clock, process group "
            "killed); a fill identical to the original counts as passing without a run.\n"
        )
        w("| system | kind | n | pass | exact |")
        w("|---|---|---|---|---|")
        for s in _systems(f):
            for k, row in f[s]["per_kind"].items():
                w(
                    f"| {LABELS[s]} | {k} | {row['n']} | {_pct(row['pass'], row['n'])} | "
                    f"{_pct(row['exact'], row['n'])} |"
                )
        w("")
    if "samples" in results:
        sm = results["samples"]
        w("## Generating functions from nothing\n")
        w(
            f"{sm['n']} samples each: {sm['what']}.  The token model's prompt is `<bos>def`; a function ends at the "
            "first line at column 0.\n"
        )
        w(
            "| system | parse | compile | compiled with an undefined name | mean chars | model calls / program "
            "| wall s / valid program | constraint ms / step |"
        )
        w("|---|---|---|---|---|---|---|---|")
        for s in _systems(sm):
            m = sm[s]
            w(
                f"| {LABELS[s]} | {_pct(m['parse'], sm['n'])} | {_pct(m['compile'], sm['n'])} | "
                f"{m.get('undefined_names', '–')} | {m['mean_chars']} | "
                f"{m['model_calls_per_program']} | {m['seconds_per_valid_program']} | "
                f"{m['mask_ms_per_step'] if s in CONSTRAINED else '–'} |"
            )
        w("")
        if "samples_valid.png" in plots:
            w(f"![samples]({rel}/samples_valid.png)\n")
    w("## Who wins what (computed from the tables above)\n")
    lines.extend(wins(results))
    w("")
    notes = path.with_name(NOTES)  # the hand-written reading of the figures, kept beside the report
    if notes.is_file():
        lines.append(notes.read_text(encoding="utf-8").rstrip("\n"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Render the report again from a results.json (e.g. after editing the notes), without evaluating."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--results", type=Path, default=Path("docs/report/results.json"))
    ap.add_argument("--report", type=Path, default=Path("docs/report.md"))
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    write_report(results, args.report, args.results.parent)


if __name__ == "__main__":
    main()
