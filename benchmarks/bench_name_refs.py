"""What would name references save?  A design measurement for issue 14, torch-free.

Every identifier terminal (a variable, parameter, attribute, keyword or definition name) is spelled
today as its pieces plus `<end>`.  With references, a name already in a per-document table costs one
action (a pointer to its table slot) instead.  Two table orders, each with K slots:

  mtf    most recently used first (a use moves the name to the front)
  first  order of first appearance (a slot never moves; the K oldest names are referable)

Reported per variant: the share of identifier terminals that become references, the actions per
canonical character, and the entropy of the slot index (bits a model must spend to pick the slot,
against the bits it spends today on pieces).  Measured on the standard library's test split.
`shipped_layout`: the layout models with `name_refs` use (`astgen.codec.refs`: 64 slots, most recent
first, every identifier terminal), per 512-action window as the model sees it and per whole file.

    .venv/bin/python -m benchmarks.bench_name_refs [--limit N] [--json docs/name_refs.json]
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

from astgen.codec import default_codec, parse_source, read_source
from astgen.codec.lower import lower
from astgen.corpus import stdlib_files
from astgen.errors import AstgenError
from astgen.grammar.ir import Terminal
from training.data import dedupe, split_files

__all__ = ["main", "measure"]

SLOTS = (16, 32, 64, 128, 1 << 20)


def _names(path: str) -> tuple[int, int, list[tuple[bytes, int]]] | None:
    """(actions, canonical characters, [(name, actions spelling it)]) of one file, or None."""
    codec = default_codec()
    try:
        tree = lower(parse_source(read_source(path), path))
    except (AstgenError, RecursionError):
        return None
    seen: list[tuple[Terminal, bytes]] = []
    ids = codec.actions.encode(tree, on_terminal=lambda t, v: seen.append((t, v)))
    pieces = codec.actions.pieces
    names = [(v, len(pieces.encode(t.pieces, v)) + 1) for t, v in seen if t.kind == "identifier"]
    return len(ids), len(codec.decode(ids)), names


def _refs(names: list[tuple[bytes, int]], order: str, k: int, slots: Counter[int]) -> tuple[int, int]:
    """(actions saved, references) for one document's names with a table of `k` slots."""
    table: list[bytes] = []
    saved = refs = 0
    for name, cost in names:
        i = table.index(name) if name in table else -1
        if 0 <= i < k:
            saved, refs = saved + cost - 1, refs + 1
            slots[i] += 1
            if order == "mtf":
                table.insert(0, table.pop(i))
        elif i < 0:
            if order == "mtf":
                table.insert(0, name)
            else:
                table.append(name)
        elif order == "mtf":  # known but beyond the table: spelled, and now the most recent
            table.insert(0, table.pop(i))
    return saved, refs


def measure(paths: list[str]) -> dict[str, object]:
    docs = [d for d in map(_names, paths) if d is not None]
    actions = sum(d[0] for d in docs)
    chars = sum(d[1] for d in docs)
    names = sum(len(d[2]) for d in docs)
    name_actions = sum(c for d in docs for _, c in d[2])
    variants = []
    for order in ("mtf", "first"):
        for k in SLOTS:
            slots: Counter[int] = Counter()
            saved = refs = 0
            for d in docs:
                s, r = _refs(d[2], order, k, slots)
                saved, refs = saved + s, refs + r
            total = sum(slots.values())
            entropy = -sum(c / total * math.log2(c / total) for c in slots.values()) if total else 0.0
            variants.append(
                {
                    "order": order,
                    "slots": k if k < 1 << 20 else "all",
                    "reference_share": round(refs / max(1, names), 4),
                    "actions_per_char": round((actions - saved) / max(1, chars), 4),
                    "slot_entropy_bits": round(entropy, 2),
                }
            )
    return {
        "files": len(docs),
        "actions": actions,
        "chars": chars,
        "actions_per_char": round(actions / max(1, chars), 4),
        "identifier_terminals": names,
        "identifier_action_share": round(name_actions / max(1, actions), 4),
        "variants": variants,
    }


def _compressed(path: str, slots: int, window: int) -> tuple[int, int, int, int, int] | None:
    """(actions, visible actions, tokens, visible tokens, canonical characters) of one file under the
    shipped reference layout (`astgen.codec.refs`), each `window` actions compressed on their own as
    the model sees them (0: the whole file at once)."""
    from astgen.codec.refs import NameRefs
    from astgen.compiled_default import default_compiled
    from astgen.features import document_states
    from astgen.grammar.replay import replay

    codec, cg = default_codec(), default_compiled()
    try:
        ids = codec.encode(read_source(path), path)
    except (AstgenError, RecursionError):
        return None
    refs = NameRefs.for_model(cg, cg.n_actions + 4, slots)
    states = document_states(cg, ids).tolist()
    forced = replay(cg, ids).forced
    step = window or len(ids)
    tokens = visible = 0
    for lo in range(0, len(ids), step):
        c = refs.compress(ids[lo : lo + step], states[lo : lo + step])
        tokens += len(c.tokens)
        visible += sum(1 if refs.is_ref(t) else int(not forced[lo + i]) for t, i in zip(c.tokens, c.last) if i < step)
        visible += sum(1 for i in c.last if i >= step)  # (pieces of a name cut by the window: chosen)
    return len(ids), len(ids) - sum(forced), tokens, visible, len(codec.decode(ids))


def measure_layout(paths: list[str], slots: int = 64, windows: tuple[int, ...] = (512, 0)) -> list[dict[str, object]]:
    """Model tokens per canonical character with references, per window size (0: whole files)."""
    out = []
    for window in windows:
        rows = [r for r in (_compressed(p, slots, window) for p in paths) if r is not None]
        a, va, t, vt, c = (sum(r[i] for r in rows) for i in range(5))
        out.append(
            {
                "slots": slots,
                "window": window or "file",
                "files": len(rows),
                "actions_per_char": round(a / c, 4),
                "visible_actions_per_char": round(va / c, 4),
                "tokens_per_char": round(t / c, 4),
                "visible_tokens_per_char": round(vt / c, 4),
                "tokens_per_action": round(t / a, 4),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="measure only the first N test-split files")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    test = [str(f.path) for f in split_files(dedupe(stdlib_files()))["test"]]
    paths = test[: args.limit] if args.limit else test
    result = measure(paths)
    result["shipped_layout"] = measure_layout(paths)
    result["command"] = "python -m benchmarks.bench_name_refs" + (f" --limit {args.limit}" if args.limit else "")
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
