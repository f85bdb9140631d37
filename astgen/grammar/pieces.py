"""Subword pieces for terminals: one byte-level BPE tokenizer per piece group (names, numbers,
text, bytes), trained with `tokenizers` on the corpus terminals.  Every group contains all 256
single bytes, so any terminal value is encodable; the union of the groups' pieces is the piece
part of the action vocabulary."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources

__all__ = ["PieceVocabulary", "bytes_to_unicode", "load_pieces"]


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Map every byte to a printable character (printable Latin-1 bytes map to themselves), so byte
    strings can pass through `tokenizers` as text without a pre-tokenizer."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping: dict[int, str] = {}
    shift = 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + shift)
            shift += 1
    return mapping


def _to_text(data: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


@lru_cache(maxsize=1)
def _unicode_to_bytes() -> dict[str, int]:
    return {v: k for k, v in bytes_to_unicode().items()}


def _from_text(text: str) -> bytes:
    inverse = _unicode_to_bytes()
    return bytes(inverse[c] for c in text)


class PieceVocabulary:
    """Per-group BPE tokenizers plus the union piece list (stable order: groups in given order)."""

    def __init__(self, tokenizer_json: Mapping[str, str]):
        from tokenizers import Tokenizer

        self.groups: tuple[str, ...] = tuple(tokenizer_json)
        self._json = dict(tokenizer_json)
        self._tokenizers = {g: Tokenizer.from_str(js) for g, js in tokenizer_json.items()}
        pieces: list[bytes] = [bytes([b]) for b in range(256)]
        index: dict[bytes, int] = {p: i for i, p in enumerate(pieces)}
        self._group_maps: dict[str, list[int]] = {}
        for g in self.groups:
            tok = self._tokenizers[g]
            vocab = tok.get_vocab()
            local = [0] * len(vocab)
            # in id order: get_vocab() is a hash map, and the union's ids must not depend on its order
            for text, tid in sorted(vocab.items(), key=lambda kv: kv[1]):
                piece = _from_text(text)
                if piece not in index:
                    index[piece] = len(pieces)
                    pieces.append(piece)
                local[tid] = index[piece]
            self._group_maps[g] = local
        self.pieces: tuple[bytes, ...] = tuple(pieces)
        self._cache: dict[tuple[str, bytes], tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, group: str, data: bytes) -> tuple[int, ...]:
        """Piece ids (indices into `pieces`) spelling `data` with `group`'s merges."""
        key = (group, data)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if not data:
            out: tuple[int, ...] = ()
        else:
            local = self._group_maps[group]
            out = tuple(local[i] for i in self._tokenizers[group].encode(_to_text(data)).ids)
        if len(self._cache) < 500_000:
            self._cache[key] = out
        return out

    def to_json(self) -> str:
        return json.dumps({"groups": self._json}, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> PieceVocabulary:
        return cls(json.loads(text)["groups"])

    @classmethod
    def train(cls, corpus: Mapping[str, Iterable[bytes]], sizes: Mapping[str, int]) -> PieceVocabulary:
        """Train one byte-level BPE per group on that group's terminal values."""
        from tokenizers import Tokenizer, models, trainers

        alphabet = list(bytes_to_unicode().values())
        out: dict[str, str] = {}
        for group, values in corpus.items():
            tok = Tokenizer(models.BPE())
            trainer = trainers.BpeTrainer(
                vocab_size=sizes[group],
                initial_alphabet=alphabet,
                show_progress=False,
                min_frequency=2,
                max_token_length=24,
            )
            tok.train_from_iterator((_to_text(v[:256]) for v in values if v), trainer=trainer)
            out[group] = tok.to_str()
        return cls(out)


@lru_cache(maxsize=4)
def load_pieces(language: str = "python") -> PieceVocabulary:
    """The shipped piece vocabulary of a language."""
    text = (resources.files("astgen.grammars") / f"{language}.pieces.json").read_text(encoding="utf-8")
    return PieceVocabulary.from_json(text)
