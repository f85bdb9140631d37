"""The shipped Python grammar, compiled: once per machine (a file cache), then once per process.

Compiling the grammar takes seconds; loading its tables takes milliseconds.  The cache file is named
by a hash of everything the tables depend on (the grammar and pieces files and the compiler's own
source), so an edited grammar or compiler never reads stale tables.  `ASTGEN_CACHE` sets the folder
(default `$XDG_CACHE_HOME/astgen` or `~/.cache/astgen`); `ASTGEN_CACHE=off` compiles every time.
A cache that cannot be read or written is skipped, never an error."""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from astgen.grammar import grammar_text
from astgen.grammar import load as load_grammar
from astgen.grammar.compiled import CompiledGrammar, compile_grammar
from astgen.grammar.pieces import load_pieces

__all__ = ["cache_dir", "default_compiled", "tables_key"]

CACHE_ENV = "ASTGEN_CACHE"


def cache_dir() -> Path | None:
    """The folder of compiled-grammar files, or None when caching is off."""
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "astgen"


def tables_key(language: str = "python") -> str:
    """A hash of the inputs of `compile_grammar` for `language`: its grammar and pieces files and the
    source of the compiler package (`astgen.grammar`)."""
    h = hashlib.sha256()
    h.update(grammar_text(language).encode())
    h.update((resources.files("astgen.grammars") / f"{language}.pieces.json").read_bytes())
    compiler = resources.files("astgen.grammar")
    for name in sorted(p.name for p in compiler.iterdir() if p.name.endswith(".py")):
        h.update(name.encode())
        h.update((compiler / name).read_bytes())
    return h.hexdigest()[:20]


def _compile(language: str) -> CompiledGrammar:
    return compile_grammar(load_grammar(language), load_pieces(language))


@lru_cache(maxsize=4)
def default_compiled(language: str = "python") -> CompiledGrammar:
    """The shipped grammar and pieces of `language`, compiled (from the file cache when it has them)."""
    folder = cache_dir()
    if folder is None:
        return _compile(language)
    path = folder / f"{language}-{tables_key(language)}.safetensors"
    if path.is_file():
        try:
            return CompiledGrammar.load(path)
        except Exception:  # a damaged or foreign file: compile again and replace it
            pass
    compiled = _compile(language)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{language}-", suffix=".tmp")
        os.close(fd)
        try:
            compiled.save(tmp)
            os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only home or full disk: run without the cache
    return compiled
