"""Shared pieces of the token-baseline tests: a small BPE tokenizer trained on a few stdlib files, and
an output head with a fixed bias (makes a random model want to end at once)."""

from __future__ import annotations

import ast
import json
import sysconfig
from pathlib import Path

import torch

from astgen.codec import unparse
from training.token_data import train_tokenizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def small_tokenizer(folder: Path, files: list[str], vocab_size: int = 300) -> tuple[list[str], object]:
    """(canonical texts of `files`, a byte-level BPE tokenizer of `vocab_size` ids trained on them)."""
    texts = [unparse(ast.parse((STDLIB / f).read_text(encoding="utf-8"))) for f in files]
    with open(folder / "train.texts.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    return texts, train_tokenizer(folder / "train.texts.jsonl", vocab_size)


class Biased(torch.nn.Module):
    """An output head plus a fixed bias: makes a random model want to end at once."""

    def __init__(self, head: torch.nn.Module, bias: torch.Tensor):
        super().__init__()
        self.head, self.bias = head, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x) + self.bias
