"""The shipped Python grammar, compiled (cached per process)."""

from __future__ import annotations

from functools import lru_cache

from astgen.grammar import load as load_grammar
from astgen.grammar.compiled import CompiledGrammar, compile_grammar
from astgen.grammar.pieces import load_pieces

__all__ = ["default_compiled"]


@lru_cache(maxsize=4)
def default_compiled(language: str = "python") -> CompiledGrammar:
    """Compile the shipped grammar and pieces of `language` (about a second; cached)."""
    return compile_grammar(load_grammar(language), load_pieces(language))
