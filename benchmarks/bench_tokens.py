"""Actions per program vs BPE tokens of the same canonical source, on the standard library.

For every stdlib file that parses and encodes: canonical source = decode(encode(source)) (the
`ast.unparse` form the codec is exact on), the action sequence, and its replay through the compiled
automaton (which steps were forced: the grammar allowed exactly one action there).  A byte-level BPE
(`tokenizers`: ByteLevel pre-tokenizer with the GPT-2 split regex, BPE trainer, one `<eos>` special
token) with the same total vocabulary size as the action vocabulary is trained on the canonical
sources of ~90% of the files (split by sha256 of the canonical source, so duplicates stay together)
and evaluated on the other ~10% and on all files.  Every BPE count includes one `<eos>` per file, as
every action sequence ends with `<eos>`.

Variants:
  bpe-V      vocab = len(action vocabulary), trained on the train split
  bpe-V-all  vocab = len(action vocabulary), trained on all files (the footing of the piece
             vocabularies, which were trained on the terminals of all stdlib files)
  bpe-U      vocab = number of distinct action ids seen at model-visible steps in the train split

    .venv/bin/python -m benchmarks.bench_tokens [--jobs 2] [--limit N] [--json out.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "2")  # tokenizers' thread pool; read at first use

import argparse
import hashlib
import json
import multiprocessing as mp
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from astgen.errors import AstgenError
from training.bpe import train_byte_bpe
from training.machine import machine_info

EVAL_MOD = 10  # files whose sha256 (of canonical source) is 0 mod EVAL_MOD are held out
CATEGORIES = ("constructor", "<stop>", "<more>", "<close>", "<end>", "<eos>", "piece")
# What a span of canonical source is, from Python's own tokenizer (3.11: an f-string is one STRING).
# BPE tokens are attributed by the class of their last character; actions by piece group
# (pieces and <end> of str/bytes terminals -> string, of identifiers -> identifier, ...).
CLASSES = ("layout", "string", "identifier", "number", "keyword", "operator")
ACTION_CLASS = {"text": "string", "bytes": "string", "name": "identifier", "number": "number"}

_state: Any = None


def _init() -> None:
    global _state
    from astgen.codec import default_codec
    from astgen.codec.source import DEEP_RECURSION

    sys.setrecursionlimit(max(sys.getrecursionlimit(), DEEP_RECURSION))  # for the worker's lifetime
    from astgen.compiled_default import default_compiled
    from astgen.grammar.actions import SPECIALS

    codec = default_codec()
    cg = default_compiled()
    v = codec.vocab
    cat_of = []
    for a in range(len(v)):
        if a < v.ctor_base:
            cat_of.append(SPECIALS[a])
        elif a < v.piece_base:
            cat_of.append("constructor")
        else:
            cat_of.append("piece")
    group_of_terminal = {t.name: t.pieces for t in codec.grammar.terminals}
    group_of_symbol = {
        s: group_of_terminal[name.split("@")[0]] for s, name in enumerate(cg.symbol_names) if s >= cg.dfa_base
    }
    piece_len = [0] * v.piece_base + [len(p) for p in v.pieces]
    _state = (codec, cg, cat_of, group_of_symbol, piece_len)


def char_classes(text: str) -> bytes:
    """One CLASSES index per character of `text` (whitespace and comments: layout)."""
    import io
    import keyword
    import tokenize

    out = bytearray(len(text))
    starts = [0]
    pos = text.find("\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    kinds = {tokenize.STRING: 1, tokenize.NUMBER: 3, tokenize.OP: 5}
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type == tokenize.NAME:
            c = 4 if keyword.iskeyword(t.string) else 2
        else:
            c = kinds.get(t.type, 0)
            if not c:
                continue
        a = starts[t.start[0] - 1] + t.start[1]
        b = starts[t.end[0] - 1] + t.end[1]
        out[a:b] = bytes([c]) * (b - a)
    return bytes(out)


def _measure(path: str) -> dict[str, Any]:
    from astgen.codec import read_source
    from astgen.grammar.replay import replay

    codec, cg, cat_of, group_of_symbol, piece_len = _state
    try:
        ids = codec.encode(read_source(path), path)
        canon = codec.decode(ids)
        rep = replay(cg, ids)
    except (AstgenError, RecursionError) as e:
        return {"path": path, "error": f"{type(e).__name__}: {e}"}
    cats: dict[str, list[int]] = {c: [0, 0] for c in CATEGORIES}  # [forced, visible]
    groups: dict[str, list[int]] = {}  # group -> [terminals, value bytes, pieces forced, pieces visible]
    visible_types: set[int] = set()
    structural: Counter[str] = Counter()  # constructor and special actions by name
    dfa_base = cg.dfa_base
    piece_base = codec.vocab.piece_base
    for a, top, forced in zip(ids, rep.tops, rep.forced, strict=True):
        cats[cat_of[a]][0 if forced else 1] += 1
        if a < piece_base:
            structural[codec.vocab.name(a)] += 1
        if not forced:
            visible_types.add(a)
        if top >= dfa_base:
            g = groups.setdefault(group_of_symbol[top], [0, 0, 0, 0])
            if a == 4:  # <end>
                g[0] += 1
            else:
                g[1] += piece_len[a]
                g[2 if forced else 3] += 1
    return {
        "path": path,
        "sha256": hashlib.sha256(canon.encode("utf-8", "surrogatepass")).hexdigest(),
        "canon": canon,
        "chars": len(canon),
        "bytes": len(canon.encode("utf-8", "surrogatepass")),
        "actions": len(ids),
        "forced": rep.n_forced,
        "visible": rep.n_visible,
        "cats": cats,
        "groups": groups,
        "visible_types": sorted(visible_types),
        "structural": dict(structural),
        "char_classes": char_classes(canon),
    }


# ---------------------------------------------------------------------------------------- BPE
def train_bpe(texts: list[str], vocab_size: int) -> Any:
    return train_byte_bpe(texts, vocab_size, ["<eos>"], length=len(texts))


def bpe_counts(tok: Any, rows: list[dict[str, Any]], check: int = 20) -> tuple[list[int], list[int]]:
    """BPE tokens per file (plus one <eos> each; round-trips the first `check` files), and the
    tokens per CLASSES entry over all files (the <eos> tokens not included)."""
    import numpy as np

    encs = tok.encode_batch([r["canon"] for r in rows], add_special_tokens=False)
    by_class = np.zeros(len(CLASSES), dtype=np.int64)
    for i, (r, enc) in enumerate(zip(rows, encs, strict=True)):
        if i < check:
            assert tok.decode(enc.ids) == r["canon"], "BPE round trip failed"
        if enc.ids:
            ends = np.fromiter((e for _, e in enc.offsets), dtype=np.int64, count=len(enc.ids))
            cls = np.frombuffer(r["char_classes"], dtype=np.uint8)[np.maximum(ends, 1) - 1]
            by_class += np.bincount(cls, minlength=len(CLASSES))
    return [len(e.ids) + 1 for e in encs], by_class.tolist()


# ------------------------------------------------------------------------------------ summary
def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def summarize(rows: list[dict[str, Any]], bpe: list[int]) -> dict[str, Any]:
    chars = sum(r["chars"] for r in rows)
    acts = sum(r["actions"] for r in rows)
    forced = sum(r["forced"] for r in rows)
    vis = sum(r["visible"] for r in rows)
    toks = sum(bpe)
    per_vis = [r["visible"] / b for r, b in zip(rows, bpe, strict=True)]
    per_act = [r["actions"] / b for r, b in zip(rows, bpe, strict=True)]
    return {
        "files": len(rows),
        "chars": chars,
        "bytes": sum(r["bytes"] for r in rows),
        "bpe_tokens": toks,
        "actions": acts,
        "forced": forced,
        "visible": vis,
        "visible_per_bpe": vis / toks,
        "actions_per_bpe": acts / toks,
        "actions_per_char": acts / chars,
        "forced_per_char": forced / chars,
        "visible_per_char": vis / chars,
        "bpe_per_char": toks / chars,
        "median_file_visible_per_bpe": statistics.median(per_vis),
        "p10_file_visible_per_bpe": _q(per_vis, 0.1),
        "p90_file_visible_per_bpe": _q(per_vis, 0.9),
        "median_file_actions_per_bpe": statistics.median(per_act),
    }


def machine() -> dict[str, str]:
    import tokenizers

    m = machine_info()
    return {
        "python": m["python"],
        "torch": m["torch"],
        "tokenizers": tokenizers.__version__,
        "cpu": f"{m['cpu']} ({m['cores']} logical cores visible)",
        "platform": m["platform"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N stdlib files (quick check)")
    ap.add_argument("--json", default="", help="write the summary and per-file rows here")
    ap.add_argument("--no-variants", action="store_true", help="only bpe-V")
    args = ap.parse_args()

    from astgen.codec import default_codec
    from astgen.corpus import stdlib_files

    t0 = time.time()
    vocab_size = len(default_codec().vocab)
    files = [str(p) for p in stdlib_files()]
    if args.limit:
        files = files[: args.limit]
    print(f"{len(files)} files, action vocabulary {vocab_size}, {args.jobs} workers", flush=True)

    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with mp.Pool(args.jobs, initializer=_init) as pool:
        for i, r in enumerate(pool.imap(_measure, files, chunksize=4), 1):
            (errors if "error" in r else rows).append(r)
            if i % 200 == 0 or i == len(files):
                print(f"  encoded {i}/{len(files)} files ({time.time() - t0:.0f}s)", flush=True)
    for e in errors:
        print(f"  skipped {e['error'][:160]}", flush=True)

    for r in rows:
        r["split"] = "eval" if int(r["sha256"], 16) % EVAL_MOD == 0 else "train"
    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "eval"]
    print(f"split: {len(train)} train, {len(held)} eval files ({len(errors)} skipped)", flush=True)

    results: dict[str, dict[str, Any]] = {}
    per_file: dict[str, list[int]] = {}

    def run(name: str, fit: list[dict[str, Any]], size: int, evals: dict[str, list[dict[str, Any]]]) -> None:
        t = time.time()
        tok = train_bpe([r["canon"] for r in fit], size)
        got = tok.get_vocab_size()
        print(f"{name}: trained vocab {got} (asked {size}) on {len(fit)} files in {time.time() - t:.0f}s", flush=True)
        for ename, erows in evals.items():
            counts, by_class = bpe_counts(tok, erows)
            key = f"{name} / {ename}"
            results[key] = {
                "bpe_vocab": got,
                "bpe_trained_on": len(fit),
                **summarize(erows, counts),
                "bpe_by_class": dict(zip(CLASSES, by_class, strict=True)),
            }
            if ename == "all":
                per_file[name] = counts

    run("bpe-V", train, vocab_size, {"eval": held, "all": rows})
    used_vis = len(set().union(*(r["visible_types"] for r in train)))
    used_vis_all = len(set().union(*(r["visible_types"] for r in rows)))
    if not args.no_variants:
        run("bpe-V-all", rows, vocab_size, {"all": rows})
        run("bpe-U", train, used_vis, {"eval": held, "all": rows})

    # action categories and terminal groups, over all files and over the eval files
    def breakdown(rs: list[dict[str, Any]]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        cats = {c: [0, 0] for c in CATEGORIES}
        groups: dict[str, list[int]] = {}
        for r in rs:
            for c, (f, v) in r["cats"].items():
                cats[c][0] += f
                cats[c][1] += v
            for g, vals in r["groups"].items():
                acc = groups.setdefault(g, [0, 0, 0, 0])
                for k in range(4):
                    acc[k] += vals[k]
        return cats, groups

    cats_all, groups_all = breakdown(rows)
    chars_all = sum(r["chars"] for r in rows)
    elapsed = time.time() - t0

    # ------------------------------------------------------------------------------ report
    m = machine()
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in m.items()))
    print(
        f"action vocabulary {vocab_size}; distinct action ids at model-visible steps: "
        f"{used_vis} (train split), {used_vis_all} (all files)"
    )
    print()
    print(
        "| tokenizer / files | files | chars | BPE tokens | actions | forced | visible "
        "| visible/BPE | actions/BPE | median file visible/BPE (p10-p90) "
        "| BPE/char | actions/char | forced/char | visible/char |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, s in results.items():
        print(
            f"| {key} (vocab {s['bpe_vocab']}) | {s['files']} | {s['chars']:,} | {s['bpe_tokens']:,} "
            f"| {s['actions']:,} | {s['forced']:,} | {s['visible']:,} "
            f"| {s['visible_per_bpe']:.3f} | {s['actions_per_bpe']:.3f} "
            f"| {s['median_file_visible_per_bpe']:.3f} ({s['p10_file_visible_per_bpe']:.2f}-"
            f"{s['p90_file_visible_per_bpe']:.2f}) "
            f"| {s['bpe_per_char']:.4f} | {s['actions_per_char']:.4f} | {s['forced_per_char']:.4f} "
            f"| {s['visible_per_char']:.4f} |"
        )
    print()
    print(f"action categories, all {len(rows)} files ({chars_all:,} chars):")
    print()
    print("| action | total | forced | visible | % of all actions | visible per char |")
    print("|---|---:|---:|---:|---:|---:|")
    n_all = sum(f + v for f, v in cats_all.values())
    for c, (f, v) in cats_all.items():
        print(f"| {c} | {f + v:,} | {f:,} | {v:,} | {100 * (f + v) / n_all:.1f}% | {v / chars_all:.4f} |")
    top: Counter[str] = Counter()
    for r in rows:
        top.update(r["structural"])
    print()
    print("most frequent constructor/special actions, all files:")
    print()
    print("| action | count | % of all actions |")
    print("|---|---:|---:|")
    for name, n in top.most_common(15):
        print(f"| {name} | {n:,} | {100 * n / n_all:.1f}% |")
    print()
    print("terminal spelling by piece group, all files (pieces only; each terminal also has one <end>):")
    print()
    print(
        "| piece group | terminals | value bytes | pieces | forced pieces | visible pieces "
        "| bytes per piece | pieces per terminal |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for g, (n, nb, pf, pv) in sorted(groups_all.items(), key=lambda kv: -kv[1][1]):
        p = pf + pv
        print(f"| {g} | {n:,} | {nb:,} | {p:,} | {pf:,} | {pv:,} | {nb / max(p, 1):.2f} | {p / max(n, 1):.2f} |")
    for key in ("bpe-V / eval", "bpe-V / all"):
        s = results[key]
        erows = held if key.endswith("eval") else rows
        _, groups = breakdown(erows)
        acts = {c: 0 for c in ("structure", "string", "identifier", "number")}
        for g, (n, _nb, pf, pv) in groups.items():
            acts[ACTION_CLASS[g]] += n + pf + pv
        acts["structure"] = s["actions"] - sum(acts.values())
        b = s["bpe_by_class"]
        bpe = {
            "structure": b["keyword"] + b["operator"] + b["layout"] + s["files"],
            "string": b["string"],
            "identifier": b["identifier"],
            "number": b["number"],
        }
        print()
        print(
            f"where the tokens go, {key} ({s['files']} files): actions (pieces + <end> per terminal "
            f"group; structure = everything else) vs BPE tokens (by the source class of their last char; "
            f"structure = keywords + operators + layout + <eos>):"
        )
        print()
        print("| part | actions | BPE tokens | actions/BPE |")
        print("|---|---:|---:|---:|")
        for part in acts:
            print(f"| {part} | {acts[part]:,} | {bpe[part]:,} | {acts[part] / max(bpe[part], 1):.2f} |")
        print(
            f"| (BPE structure: keywords {b['keyword']:,}, operators {b['operator']:,}, "
            f"layout {b['layout']:,}, <eos> {s['files']:,}) | | | |"
        )
    print()
    print(f"total time {elapsed:.0f}s")

    if args.json:
        out = {
            "machine": m,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "action_vocab": vocab_size,
            "visible_action_types_train": used_vis,
            "visible_action_types_all": used_vis_all,
            "skipped": [e["error"] for e in errors],
            "results": results,
            "categories_all": cats_all,
            "groups_all": groups_all,
            "structural_all": dict(top.most_common()),
            "files": [
                {
                    "path": r["path"],
                    "split": r["split"],
                    **{k: r[k] for k in ("chars", "bytes", "actions", "forced", "visible")},
                    **{f"tokens_{name}": c[i] for name, c in per_file.items()},
                }
                for i, r in enumerate(rows)
            ],
        }
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
