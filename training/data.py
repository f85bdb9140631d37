"""Corpus preparation: list the sources, de-duplicate, split by content hash, encode to action ids.

    python -m training.data [--out data] [--jobs 2] [--limit N] [--max-bytes 100000] [--force]

The corpus is the running interpreter's standard library (`astgen.corpus.stdlib_files()`, every
file whatever its size) plus the `.py` files of the packages installed in this environment's
site-packages that are at most `--max-bytes` long (vendored copies such as `pip/_vendor` or
`setuptools/_distutils` left out: they are near-duplicates that a content hash does not catch).
Files with identical content are kept once (the first in listing order: stdlib first, then
site-packages, each sorted by path).  A file's split is decided by its content hash alone, so it
never changes when other files come or go:

    int(sha256, 16) % 100  <  90  -> train,   90..94 -> validation,   >= 95 -> test

Outputs under `--out` (git-ignored):

    splits/{train,validation,test}.txt   the files of each split, one path per line (sorted)
    {split}.bin    uint16 action ids, one document after another, each ending with <eos> (id 0)
    {split}.json   per-document path, sha256, offset and length (in actions) and the character count
                   of its canonical source (`len(codec.decode(ids))`, for bits per character), the
                   files that could not be encoded and why, and the grammar/vocabulary hashes

A split whose `.json` already describes the same file list and action vocabulary is not encoded
again (so an interrupted run resumes at the first unfinished split); `--force` redoes everything.
`--limit N` keeps the N files with the smallest content hashes: a small, reproducible, unbiased
sample for smoke runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from astgen.codec import SPAN_KINDS, Codec, default_codec, read_source
from astgen.corpus import stdlib_files
from astgen.errors import AstgenError
from astgen.model import vocab_hash

__all__ = [
    "SPLITS",
    "CorpusFile",
    "Encoded",
    "corpus_files",
    "dedupe",
    "encode_file",
    "encode_split",
    "load_spans",
    "load_split",
    "main",
    "site_packages_files",
    "split_of",
    "split_files",
]

SPLITS = ("train", "validation", "test")
# Vendored copies of other packages (and setuptools' copy of distutils) are near-duplicates of files
# elsewhere in the corpus that a content hash cannot catch; they would leak across splits.
VENDORED = frozenset({"_vendor", "vendor", "_vendored", "vendored", "_distutils"})
DTYPE = np.uint16
FORMAT = 2
# Hole candidates per document in `{split}.spans.bin`: rows (start, end, kind, group) as uint32,
# positions relative to the document, sorted by (kind, group, start); see astgen.codec.SPAN_KINDS.
SPAN_DTYPE = np.uint32


@dataclass(frozen=True)
class CorpusFile:
    """One source file of the corpus and the sha256 of its bytes."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class Encoded:
    """The outcome of encoding one file: action ids and canonical character count, or an error."""

    path: Path
    ids: np.ndarray | None
    chars: int
    error: str | None
    spans: np.ndarray | None = None


# ----------------------------------------------------------------------------- listing and splitting


def site_packages_files(max_bytes: int, root: Path | None = None) -> list[Path]:
    """`.py` files of installed packages (this environment's purelib folder) of at most `max_bytes`,
    leaving out vendored copies of other packages."""
    base = Path(root if root is not None else sysconfig.get_paths()["purelib"])
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(
            d for d in dirnames if d != "__pycache__" and d not in VENDORED and not d.endswith(".dist-info")
        )
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.endswith(".py") and not p.is_symlink() and p.stat().st_size <= max_bytes:
                out.append(p)
    return out


def corpus_files(max_bytes: int = 100_000, include_site_packages: bool = True) -> list[Path]:
    """The stdlib (all of it) followed by small site-packages files, in a deterministic order."""
    files = stdlib_files()
    if include_site_packages:
        seen = {p.resolve() for p in files}
        files += [p for p in site_packages_files(max_bytes) if p.resolve() not in seen]
    return files


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def dedupe(paths: Iterable[Path]) -> list[CorpusFile]:
    """Hash every file; keep the first file of each content (unreadable files are dropped)."""
    seen: set[str] = set()
    out: list[CorpusFile] = []
    for p in paths:
        sha = _sha256(p)
        if sha is not None and sha not in seen:
            seen.add(sha)
            out.append(CorpusFile(p, sha))
    return out


def split_of(sha256: str) -> str:
    """The split a file belongs to, from its content hash alone."""
    bucket = int(sha256, 16) % 100
    return "train" if bucket < 90 else "validation" if bucket < 95 else "test"


def split_files(files: Iterable[CorpusFile], limit: int | None = None) -> dict[str, list[CorpusFile]]:
    """Files per split, each sorted by path; `limit` keeps the files with the smallest hashes."""
    chosen = list(files)
    if limit is not None:
        chosen = sorted(chosen, key=lambda f: f.sha256)[:limit]
    out: dict[str, list[CorpusFile]] = {s: [] for s in SPLITS}
    for f in chosen:
        out[split_of(f.sha256)].append(f)
    for s in SPLITS:
        out[s].sort(key=lambda f: str(f.path))
    return out


# ----------------------------------------------------------------------------- encoding

_worker_codec: Codec | None = None


def _init_worker() -> None:
    global _worker_codec
    _worker_codec = default_codec()


def encode_file(path: Path, codec: Codec | None = None) -> Encoded:
    """Encode one file; a file the codec rejects comes back with its error instead of ids."""
    codec = codec or _worker_codec or default_codec()
    try:
        ids, rec = codec.encode_spans(read_source(path), str(path))  # parse_source silences SyntaxWarnings
        chars = len(codec.decode(ids))
    except AstgenError as e:
        return Encoded(path, None, 0, f"{type(e).__name__}: {e}")
    except RecursionError:
        return Encoded(path, None, 0, "RecursionError: nested too deeply for the codec")
    if not ids or ids[-1] != 0:
        return Encoded(path, None, 0, "codec output does not end with <eos>")
    if max(ids) > np.iinfo(DTYPE).max:
        return Encoded(path, None, 0, "action id does not fit uint16")
    spans = np.asarray(rec.spans, dtype=SPAN_DTYPE).reshape(-1, 4)
    spans = spans[np.lexsort((spans[:, 0], spans[:, 3], spans[:, 2]))]
    return Encoded(path, np.asarray(ids, dtype=DTYPE), chars, None, spans)


def _encode_in_worker(path: Path) -> Encoded:
    return encode_file(path)


def _interval() -> float:
    """Progress refresh interval: lively on a terminal, sparse in a log file."""
    return 0.5 if sys.stderr.isatty() else 30.0


def _encoded(paths: list[Path], jobs: int, desc: str) -> Iterator[Encoded]:
    """Results in the order of `paths` (a pool of `jobs` processes when jobs > 1)."""
    bar = tqdm(total=len(paths), desc=desc, unit="file", dynamic_ncols=True, file=sys.stderr, mininterval=_interval())
    try:
        if jobs <= 1:
            codec = default_codec()
            for p in paths:
                yield encode_file(p, codec)
                bar.update()
            return
        with mp.get_context("spawn").Pool(jobs, initializer=_init_worker) as pool:
            for result in pool.imap(_encode_in_worker, paths, chunksize=4):
                yield result
                bar.update()
    finally:
        bar.close()


def _list_hash(files: list[CorpusFile]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\t{f.sha256}\n".encode())
    return h.hexdigest()[:16]


def encode_split(
    files: list[CorpusFile],
    bin_path: Path,
    json_path: Path,
    jobs: int = 2,
    split: str = "",
    force: bool = True,
) -> dict[str, Any]:
    """Encode `files` into `bin_path` (uint16, documents back to back) and describe them in `json_path`.

    Returns the description.  With `force=False`, an existing description of the same file list and
    action vocabulary (and a .bin of the right size) is returned without encoding again."""
    codec = default_codec()
    header = {
        "format": FORMAT,
        "split": split,
        "dtype": "uint16",
        "eos": 0,
        "n_actions": len(codec.vocab),
        "grammar_hash": codec.grammar.content_hash,
        "vocab_hash": vocab_hash(codec.vocab),
        "files_hash": _list_hash(files),
    }
    if not force and json_path.is_file() and bin_path.is_file():
        try:
            old = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            old = None
        if (
            isinstance(old, dict)
            and all(old.get(k) == v for k, v in header.items())
            and bin_path.stat().st_size == old.get("total_actions", -1) * np.dtype(DTYPE).itemsize
        ):
            return old

    documents: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    sha_of = {f.path: f.sha256 for f in files}
    offset = 0
    span_offset = 0
    chars = 0
    tmp_bin = bin_path.with_name(bin_path.name + ".tmp")
    spans_path = spans_path_of(bin_path)
    tmp_spans = spans_path.with_name(spans_path.name + ".tmp")
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp_bin, "wb") as out, open(tmp_spans, "wb") as span_out:
        for enc in _encoded([f.path for f in files], jobs, desc=split or bin_path.stem):
            if enc.ids is None or enc.spans is None:
                skipped.append({"path": str(enc.path), "error": enc.error or "unknown error"})
                continue
            out.write(enc.ids.tobytes())
            span_out.write(enc.spans.tobytes())
            n = int(enc.ids.size)
            counts = np.bincount(enc.spans[:, 2].astype(np.int64), minlength=len(SPAN_KINDS)).tolist()
            documents.append(
                {
                    "path": str(enc.path),
                    "sha256": sha_of[enc.path],
                    "offset": offset,
                    "length": n,
                    "chars": enc.chars,
                    "span_offset": span_offset,
                    "span_counts": counts,
                }
            )
            offset += n
            span_offset += len(enc.spans)
            chars += enc.chars
    info = {
        **header,
        "n_files": len(files),
        "n_documents": len(documents),
        "total_actions": offset,
        "total_chars": chars,
        "total_spans": span_offset,
        "documents": documents,
        "skipped": skipped,
    }
    os.replace(tmp_bin, bin_path)
    os.replace(tmp_spans, spans_path)
    tmp_json = json_path.with_name(json_path.name + ".tmp")
    tmp_json.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_json, json_path)  # written last: its presence marks the split as complete
    return info


def spans_path_of(bin_path: Path) -> Path:
    return bin_path.with_name(bin_path.stem + ".spans.bin")


def load_spans(data_dir: str | Path, split: str, info: dict[str, Any]) -> np.ndarray:
    """Hole-candidate spans of a split, [total_spans, 4] uint32 (a read-only memmap)."""
    path = spans_path_of(Path(data_dir) / f"{split}.bin")
    n = int(info.get("total_spans", -1))
    if n < 0 or not path.is_file() or path.stat().st_size != n * 4 * np.dtype(SPAN_DTYPE).itemsize:
        raise FileNotFoundError(f"{path}: missing or not matching {split}.json; encode the split again (--force)")
    if n == 0:
        return np.zeros((0, 4), dtype=SPAN_DTYPE)
    return np.memmap(path, dtype=SPAN_DTYPE, mode="r").reshape(n, 4)


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The action stream of a split (a read-only uint16 memmap) and its description."""
    base = Path(data_dir)
    json_path, bin_path = base / f"{split}.json", base / f"{split}.bin"
    if not json_path.is_file() or not bin_path.is_file():
        raise FileNotFoundError(f"{base}: no encoded {split!r} split; run `python -m training.data --out {base}`")
    info = json.loads(json_path.read_text(encoding="utf-8"))
    expected = info["total_actions"] * np.dtype(DTYPE).itemsize
    if bin_path.stat().st_size != expected:
        raise ValueError(f"{bin_path}: {bin_path.stat().st_size} bytes, its description says {expected}")
    stream = np.memmap(bin_path, dtype=DTYPE, mode="r") if expected else np.zeros(0, dtype=DTYPE)
    return stream, info


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data", help="output folder (default: data)")
    ap.add_argument("--jobs", type=int, default=2, help="encoding processes (default: 2)")
    ap.add_argument("--limit", type=int, default=None, help="keep only N files (smallest content hashes)")
    ap.add_argument("--max-bytes", type=int, default=100_000, help="largest site-packages file (default: 100000)")
    ap.add_argument("--no-site-packages", action="store_true", help="the standard library only")
    ap.add_argument("--force", action="store_true", help="encode every split again")
    args = ap.parse_args(argv)

    out = Path(args.out)
    paths = corpus_files(args.max_bytes, include_site_packages=not args.no_site_packages)
    files = dedupe(
        tqdm(paths, desc="hashing", unit="file", dynamic_ncols=True, file=sys.stderr, mininterval=_interval())
    )
    splits = split_files(files, args.limit)
    (out / "splits").mkdir(parents=True, exist_ok=True)
    for split, chosen in splits.items():
        text = "".join(f"{f.path}\n" for f in chosen)
        (out / "splits" / f"{split}.txt").write_text(text, encoding="utf-8")
    print(f"{len(paths)} files listed, {len(files)} distinct; " + ", ".join(f"{s} {len(v)}" for s, v in splits.items()))

    for split, chosen in splits.items():
        info = encode_split(chosen, out / f"{split}.bin", out / f"{split}.json", args.jobs, split, args.force)
        print(
            f"{split}: {info['n_documents']} documents, {info['total_actions']:,} actions, "
            f"{info['total_chars']:,} canonical characters, {len(info['skipped'])} files skipped"
        )


if __name__ == "__main__":
    main()
