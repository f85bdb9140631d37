"""The token-level baseline's corpus: the same documents as `training.data`, as BPE tokens.

    python -m training.token_data --data data --out data/tokens [--jobs 2] [--vocab-size 3001]

For every document of data/{split}.json (same files, same splits, same order) the canonical source
is `ast.unparse(ast.parse(file))` (what the AST model's codec decodes to; its length must equal the
document's recorded canonical character count, else the document is decoded from its actions).
A byte-level BPE tokenizer (`tokenizers`) is trained on the canonical *training* texts only.

Vocabulary layout mirrors the AST model's (`astgen.model`): id 0 is `<eot>` (end of a document, as
the grammar's `<eos>` is action 0), ids 1..V-5 are BPE tokens, then `<pad> <bos> <hole> <sep>`.
With V equal to the AST model's vocabulary both models have exactly the same parameter count.
Fill-in-the-middle uses `<hole>` and `<sep>` as the AST model does: `<bos> prefix <hole> suffix <sep>
middle <eot>`.

Outputs in --out: tokenizer.json, {split}.bin (uint16 tokens, documents back to back, each ending
with <eot>), {split}.texts.jsonl (one canonical text per line, JSON strings) and {split}.json (per
document: path, offset, length in tokens, chars, ast_length = its action count in data/)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from astgen.codec import unparse
from astgen.codec.source import quiet_parse
from training.bpe import train_byte_bpe
from training.data import load_split

__all__ = ["SPECIAL_TOKENS", "canonical_text", "load_texts", "load_token_split", "load_tokenizer", "main"]

DTYPE = np.uint16
SPECIAL_TOKENS = ("<eot>", "<pad>", "<bos>", "<hole>", "<sep>")  # <eot> is id 0, the rest the last four ids


def canonical_text(path: str) -> str | None:
    """ast.unparse of the file's tree (None if it cannot be read or parsed here)."""
    try:
        return unparse(quiet_parse(Path(path).read_bytes(), path))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None


def _texts_of(data: str, split: str, jobs: int) -> Iterator[tuple[dict[str, Any], str]]:
    """(AST document record, canonical text) in data/{split}.json order."""
    stream, info = load_split(data, split)
    docs = info["documents"]
    with ProcessPoolExecutor(jobs) as pool:
        texts = pool.map(canonical_text, [d["path"] for d in docs], chunksize=16)
        for doc, text in zip(docs, texts):
            if text is None or len(text) != int(doc["chars"]):
                from astgen.codec import default_codec

                off = int(doc["offset"])
                text = default_codec().decode(stream[off : off + int(doc["length"])].astype(np.int64).tolist())
            yield doc, text


def train_tokenizer(texts_file: Path, vocab_size: int) -> Any:
    """A byte-level BPE tokenizer with `vocab_size` ids in the layout described above."""

    def lines() -> Iterator[str]:
        with open(texts_file, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    tok = train_byte_bpe(lines(), vocab_size - 4, SPECIAL_TOKENS[:1])
    tok.add_special_tokens(list(SPECIAL_TOKENS[1:]))
    if (
        tok.get_vocab_size() != vocab_size
        or tok.token_to_id("<eot>") != 0
        or tok.token_to_id("<sep>") != vocab_size - 1
    ):
        raise RuntimeError(f"tokenizer has {tok.get_vocab_size()} ids, not the {vocab_size} in the expected layout")
    return tok


def load_tokenizer(path: str | Path) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def load_token_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The token stream of a split (read-only uint16 memmap) and its description."""
    base = Path(data_dir)
    info = json.loads((base / f"{split}.json").read_text(encoding="utf-8"))
    path = base / f"{split}.bin"
    if path.stat().st_size != info["total_tokens"] * np.dtype(DTYPE).itemsize:
        raise ValueError(f"{path}: size does not match {split}.json; run `python -m training.token_data` again")
    return np.memmap(path, dtype=DTYPE, mode="r"), info


def load_texts(data_dir: str | Path, split: str) -> list[str]:
    with open(Path(data_dir) / f"{split}.texts.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _write_texts(data: str, split: str, out: Path, jobs: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    tmp = out / f"{split}.texts.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for doc, text in _texts_of(data, split, jobs):
            f.write(json.dumps(text) + "\n")
            docs.append({"path": doc["path"], "chars": int(doc["chars"]), "ast_length": int(doc["length"])})
    os.replace(tmp, out / f"{split}.texts.jsonl")
    return docs


def encode_token_split(tok: Any, split: str, docs: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    texts = load_texts(out, split)
    offset = 0
    tmp = out / f"{split}.bin.tmp"
    with open(tmp, "wb") as f:
        for lo in range(0, len(texts), 256):
            for doc, enc in zip(docs[lo : lo + 256], tok.encode_batch(texts[lo : lo + 256], add_special_tokens=False)):
                ids = np.asarray([*enc.ids, 0], dtype=DTYPE)
                f.write(ids.tobytes())
                doc.update(offset=offset, length=len(ids))
                offset += len(ids)
    os.replace(tmp, out / f"{split}.bin")
    info = {
        "split": split,
        "vocab_size": tok.get_vocab_size(),
        "total_tokens": offset,
        "total_chars": sum(d["chars"] for d in docs),
        "n_documents": len(docs),
        "documents": docs,
    }
    (out / f"{split}.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data", help="folder written by `python -m training.data`")
    ap.add_argument("--out", default="data/tokens")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--vocab-size", type=int, default=3001, help="all ids incl. the 5 special tokens")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    docs = {split: _write_texts(args.data, split, out, args.jobs) for split in ("train", "validation", "test")}
    tok = train_tokenizer(out / "train.texts.jsonl", args.vocab_size)
    tok.save(str(out / "tokenizer.json"))
    for split, records in docs.items():
        info = encode_token_split(tok, split, records, out)
        print(
            f"{split}: {info['n_documents']} documents, {info['total_tokens']:,} tokens, "
            f"{info['total_chars']:,} canonical characters "
            f"({info['total_chars'] / info['total_tokens']:.2f} chars/token)",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
