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
