"""The torch-free grammar core: load a grammar file into an immutable `Grammar`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from astgen.errors import GrammarError
from astgen.grammar.dsl import parse_grammar
from astgen.grammar.ir import Constructor, Field, Grammar, Nonterminal, Segment, Terminal

__all__ = ["Constructor", "Field", "Grammar", "Nonterminal", "Segment", "Terminal", "grammar_text", "load"]


def grammar_text(language: str = "python") -> str:
    """The text of a shipped grammar file."""
    try:
        return (resources.files("astgen.grammars") / f"{language}.grammar").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GrammarError(f"no grammar for language {language!r}") from None


@lru_cache(maxsize=4)
def load(language: str = "python") -> Grammar:
    """Load and expand the shipped grammar for `language`."""
    return parse_grammar(grammar_text(language), language)
