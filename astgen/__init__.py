"""astgen: AST-native, grammar-constrained code generation for Python."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from astgen.errors import (
    AstgenError,
    CheckpointError,
    CheckpointMismatchError,
    GrammarError,
    InfillError,
    NoHoleError,
    SourceSyntaxError,
    UnsupportedSourceError,
)

if TYPE_CHECKING:
    from astgen.generator import Generator, generate, infill, load

__all__ = [
    "AstgenError",
    "CheckpointError",
    "CheckpointMismatchError",
    "Generator",
    "GrammarError",
    "InfillError",
    "NoHoleError",
    "SourceSyntaxError",
    "UnsupportedSourceError",
    "generate",
    "infill",
    "load",
]

_LAZY = frozenset({"Generator", "generate", "infill", "load"})


def __getattr__(name: str) -> Any:
    """`astgen.load/infill/generate/Generator` import torch and transformers only when first used."""
    if name in _LAZY:
        from astgen import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'astgen' has no attribute {name!r}")


__version__ = "0.1.0"
