"""The comparison's metrics: bits per character, exact match, parse/compile, infill cases."""

from __future__ import annotations

import ast
import math
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

from astgen.codec import default_codec, unparse
from astgen.codec.holes import holed_program
from astgen.model import ModelConfig
from astgen.research.cases import CASE_KINDS, MARKER, cases_in_function, compiles, exact_match, parses, sample_cases
from training.train import document_windows, evaluate

STDLIB = Path(sysconfig.get_paths()["stdlib"])


class _FixedLogits(torch.nn.Module):
    """A 'model' whose next-token distribution is the same known one at every position."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):  # noqa: ARG002
        b, t = input_ids.shape
        out = self.logits.expand(b, t, -1).clone()
        return type("Out", (), {"logits": out})()


def _docs(lengths: list[int], chars: list[int]) -> tuple[np.ndarray, list[dict]]:
    stream, docs, off = [], [], 0
    rng = np.random.default_rng(0)
    for n, c in zip(lengths, chars):
        ids = [*rng.integers(1, 20, size=n - 1).tolist(), 0]
        stream.extend(ids)
        docs.append({"offset": off, "length": n, "chars": c})
        off += n
    return np.asarray(stream, dtype=np.uint16), docs


@pytest.mark.parametrize("seq_len", [8, 16, 64])
def test_bits_per_char_of_uniform_distribution(seq_len: int) -> None:
    config = ModelConfig(n_actions=28, hidden_size=16, n_layers=1, n_heads=2, intermediate_size=32)
    stream, docs = _docs([37, 5, 90], [100, 7, 301])
    model = _FixedLogits(torch.zeros(config.vocab_size))
    r = evaluate(model, stream, docs, config, seq_len, 4, torch.device("cpu"))
    positions = sum(d["length"] for d in docs)  # every position of every document scored exactly once
    assert r["val_actions"] == positions
    assert r["val_bpc"] == pytest.approx(positions * math.log2(config.vocab_size) / 408, rel=1e-5)
    assert r["val_bits_per_action"] == pytest.approx(math.log2(config.vocab_size), rel=1e-5)


def test_bits_per_char_of_a_skewed_distribution() -> None:
    """Token 0 has probability 1/2, the others share the rest: bits = -log2 p(target), summed."""
    config = ModelConfig(n_actions=28, hidden_size=16, n_layers=1, n_heads=2, intermediate_size=32)
    v = config.vocab_size
    logits = torch.full((v,), math.log(0.5 / (v - 1)))
    logits[0] = math.log(0.5)
    stream, docs = _docs([50, 12], [80, 20])
    r = evaluate(_FixedLogits(logits), stream, docs, config, 16, 2, torch.device("cpu"))
    targets = stream.astype(np.int64)
    bits = sum(1.0 if t == 0 else -math.log2(0.5 / (v - 1)) for t in targets)
    assert r["val_bpc"] == pytest.approx(bits / 100, rel=1e-5)


def test_document_windows_score_each_position_once() -> None:
    ids = np.arange(1, 41)
    windows = document_windows(ids, 8, bos_id=99, eos_id=0)
    scored = [int(w.tokens[p + 1]) for w in windows for p in range(w.lo, w.hi + 1)]
    assert scored == list(range(1, 41))


@pytest.mark.parametrize(
    ("original", "filled", "same"),
    [
        ("x = 1\n", "x=1", True),
        ("x = 'a'\n", 'x = "a"', True),
        ("f(a, b)\n", "f(a,\n  b)", True),
        ("x = 1\n", "x = 2", False),
        ("x = a + b * c\n", "x = (a + b) * c", False),
        ("x = 1\n", "x = ", False),
    ],
)
def test_exact_match_compares_syntax_trees(original: str, filled: str, same: bool) -> None:
    assert exact_match(original, filled) is same


@pytest.mark.parametrize(
    ("source", "parse", "compile_"),
    [
        ("x = 1\n", True, True),
        ("def f(:\n", False, False),
        ("nonlocal x\n", True, False),  # parses, rejected by the compiler
        ("def f(a, a):\n    pass\n", True, False),
        ("return 1\n", True, False),
    ],
)
def test_parse_and_compile_rates(source: str, parse: bool, compile_: bool) -> None:
    assert parses(source) is parse
    assert compiles(source) is compile_


def _stdlib_docs(names: list[str]) -> list[tuple[str, str]]:
    return [(str(STDLIB / n), unparse(ast.parse((STDLIB / n).read_text(encoding="utf-8")))) for n in names]


def test_infill_cases_split_the_original_exactly() -> None:
    docs = _stdlib_docs(["textwrap.py", "shlex.py", "fnmatch.py", "colorsys.py"])
    cases = sample_cases(docs, 6, seed=3)
    assert sorted({c.kind for c in cases}) == sorted(CASE_KINDS)
    codec = default_codec()
    for c in cases:
        assert c.prefix + c.middle + c.suffix == c.original
        assert c.marked.count(MARKER) == 1
        assert exact_match(c.original, c.filled_text(c.middle))
        program = holed_program(codec, c.marked, 3000, c.path, mark_ellipsis=False, markers=True)
        assert program.n_holes == 1
    again = sample_cases(docs, 6, seed=3)
    assert [(c.kind, c.middle) for c in again] == [(c.kind, c.middle) for c in cases]


def test_cases_in_function_keep_the_docstring() -> None:
    source = unparse(
        ast.parse(
            'def area(r):\n    """Area.\n\n    >>> area(1)\n    3.14\n    """\n    k = 3.14\n    return k * r * r\n'
        )
    )
    cases = cases_in_function("<t>", source, "area", seed=0, kinds=("expr", "stmt", "body"))
    assert [c.kind for c in cases] == ["expr", "stmt", "body"]
    for c in cases:
        assert ">>> area(1)" in c.prefix
    body = cases[2]
    assert body.middle == "k = 3.14\n    return k * r * r"
