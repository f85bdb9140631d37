from __future__ import annotations

import random
from pathlib import Path

import pytest

from astgen.codec import Codec, default_codec
from astgen.compiled_default import default_compiled
from astgen.corpus import stdlib_files
from astgen.grammar.compiled import CompiledGrammar


@pytest.fixture(scope="session")
def codec() -> Codec:
    return default_codec()


@pytest.fixture(scope="session")
def compiled() -> CompiledGrammar:
    return default_compiled()


def stdlib_sample(n: int, seed: int = 0) -> list[Path]:
    """A seeded sample of stdlib files (the full list when n <= 0)."""
    files = stdlib_files()
    if n <= 0 or n >= len(files):
        return files
    return sorted(random.Random(seed).sample(files, n))


@pytest.fixture(scope="session")
def tiny_generator(compiled: CompiledGrammar, codec: Codec):  # type: ignore[no-untyped-def]
    """A Generator around a tiny random model (seeded): decoding mechanics without training."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from astgen.generator import Generator
    from astgen.model import ModelConfig, build_model

    torch.manual_seed(0)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    return Generator(build_model(cfg).eval(), cfg, compiled, codec)
