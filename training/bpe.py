"""The one byte-level BPE trainer of the project (the token baseline and the token benchmarks).

`tokenizers` with the GPT-2 split regex on a ByteLevel pre-tokenizer, every byte in the initial
alphabet (so any text is encodable), and the given special tokens first (ids 0..)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["train_byte_bpe"]


def train_byte_bpe(
    texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str], length: int | None = None
) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` of at most `vocab_size` ids trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=length)
    return tok
