"""What would name references save?  A design measurement for issue 14, torch-free.

Every identifier terminal (a variable, parameter, attribute, keyword or definition name) is spelled
today as its pieces plus `<end>`.  With references, a name already in a per-document table costs one
action (a pointer to its table slot) instead.  Two table orders, each with K slots:

  mtf    most recently used first (a use moves the name to the front)
  first  order of first appearance (a slot never moves; the K oldest names are referable)

Reported per variant: the share of identifier terminals that become references, the actions per
canonical character, and the entropy of the slot index (bits a model must spend to pick the slot,
against the bits it spends today on pieces).  Measured on the standard library's test split.

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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="measure only the first N test-split files")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    test = [str(f.path) for f in split_files(dedupe(stdlib_files()))["test"]]
    result = measure(test[: args.limit] if args.limit else test)
    result["command"] = "python -m benchmarks.bench_name_refs" + (f" --limit {args.limit}" if args.limit else "")
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
