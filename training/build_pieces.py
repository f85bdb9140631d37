"""Train the terminal piece vocabularies (one byte-level BPE per group) on the standard library's
terminals and write grammars/python.pieces.json.

    python -m training.build_pieces [--sizes name=2000,number=300,text=1500,bytes=300]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from astgen import grammar as grammar_mod
from astgen.codec.actions import ActionCodec
from astgen.codec.lower import lower
from astgen.codec.source import parse_source, read_source
from astgen.corpus import stdlib_files
from astgen.errors import AstgenError
from astgen.grammar.pieces import PieceVocabulary

GROUPS = ("name", "number", "text", "bytes")
_codec: ActionCodec | None = None


def _init() -> None:
    global _codec
    boot = PieceVocabulary.train({g: [] for g in GROUPS}, {g: 256 for g in GROUPS})
    _codec = ActionCodec(grammar_mod.load("python"), boot)


def _terminals(path: Path) -> list[tuple[str, bytes]]:
    assert _codec is not None
    found: list[tuple[str, bytes]] = []
    try:
        tree = parse_source(read_source(path), str(path))
        _codec.encode(lower(tree), lambda t, v: found.append((t.pieces, v)))
    except AstgenError:
        return []
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="name=2000,number=300,text=1500,bytes=300")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "grammars" / "python.pieces.json"))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    sizes = {k: int(v) for k, v in (x.split("=") for x in args.sizes.split(","))}
    corpus: dict[str, list[bytes]] = defaultdict(list)
    files = stdlib_files()
    with mp.Pool(args.jobs, initializer=_init) as pool:
        for found in tqdm(pool.imap_unordered(_terminals, files, chunksize=8), total=len(files), desc="terminals"):
            for group, value in found:
                corpus[group].append(value)
    vocab = PieceVocabulary.train({g: corpus.get(g, []) for g in GROUPS}, sizes)
    Path(args.out).write_text(vocab.to_json(), encoding="utf-8")
    print(f"wrote {args.out}: {len(vocab)} pieces ({', '.join(f'{g}={len(corpus[g])} terminals' for g in GROUPS)})")


if __name__ == "__main__":
    main()
