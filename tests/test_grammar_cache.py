"""The compiled-grammar file cache: written once, read back identical, keyed by its inputs, never fatal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astgen import compiled_default
from astgen.compiled_default import cache_dir, default_compiled, tables_key
from astgen.matcher import _tables


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASTGEN_CACHE", str(tmp_path))
    default_compiled.cache_clear()
    yield tmp_path
    default_compiled.cache_clear()


def test_the_cache_is_written_once_and_read_back_identical(fresh) -> None:  # type: ignore[no-untyped-def]
    first = default_compiled()
    [path] = fresh.glob("*.safetensors")
    assert path.name == f"python-{tables_key()}.safetensors"
    default_compiled.cache_clear()
    stamp = path.stat().st_mtime_ns
    again = default_compiled()
    assert path.stat().st_mtime_ns == stamp  # read, not rewritten
    assert again.content_hash == first.content_hash
    fresh_hash = again.__class__(again.arrays, again.meta, again.symbol_names, again.vocab).content_hash
    assert fresh_hash == first.content_hash  # the stored hash is the hash of what was read
    assert again.arrays.keys() == first.arrays.keys()
    assert all(np.array_equal(again.arrays[k], first.arrays[k]) for k in first.arrays)


def test_a_damaged_cache_file_is_compiled_again(fresh) -> None:  # type: ignore[no-untyped-def]
    good = default_compiled()
    path = fresh / f"python-{tables_key()}.safetensors"
    path.write_bytes(b"not a safetensors file")
    default_compiled.cache_clear()
    assert default_compiled().content_hash == good.content_hash
    assert path.stat().st_size > 1000  # replaced by a good copy


def test_the_cache_can_be_turned_off_and_an_unwritable_one_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASTGEN_CACHE", "off")
    assert cache_dir() is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("ASTGEN_CACHE", str(blocker / "sub"))  # a folder under a file cannot be made
    monkeypatch.setattr(compiled_default, "_compile", lambda language: "compiled")
    default_compiled.cache_clear()
    try:
        assert default_compiled() == "compiled"
    finally:
        default_compiled.cache_clear()


def test_the_key_follows_the_compiler_source(monkeypatch: pytest.MonkeyPatch) -> None:
    key = tables_key()
    real = compiled_default.grammar_text
    monkeypatch.setattr(compiled_default, "grammar_text", lambda language: real(language) + "\n# edited\n")
    assert tables_key() != key


def test_unpacked_masks_match_the_packed_bits() -> None:
    cg = default_compiled()
    t = _tables(cg, torch.device("cpu"))
    rng = np.random.default_rng(0)
    for name in ("allowed", "strict"):
        words = cg.arrays[f"{name}_bits"].view(np.uint32)
        mask = t[f"{name}_mask"].numpy()
        assert mask.shape == (words.shape[0], cg.n_actions)
        for s in rng.integers(0, words.shape[0], 64):
            expect = [bool((int(words[s, a // 32]) >> (a % 32)) & 1) for a in range(cg.n_actions)]
            assert mask[s].tolist() == expect
