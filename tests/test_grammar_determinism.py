"""The compiled tables, and so every action id, are identical in every process: checkpoints and
encoded corpora depend on it.  (A hash-map iteration order once leaked into the piece ids.)"""

from __future__ import annotations

import os
import subprocess
import sys

from astgen.grammar.compiled import CompiledGrammar

SNIPPET = "from astgen.compiled_default import default_compiled; print(default_compiled().content_hash)"


def test_compiled_hash_is_the_same_in_fresh_processes(compiled: CompiledGrammar) -> None:
    hashes = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        hashes.add(out.stdout.strip())
    assert hashes == {compiled.content_hash}


def test_compiled_tables_save_and_load(compiled: CompiledGrammar, tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "python.safetensors")
    compiled.save(path)
    again = CompiledGrammar.load(path)
    assert again.content_hash == compiled.content_hash
    assert again.symbol_names == compiled.symbol_names and again.vocab == compiled.vocab
