"""astgen: AST-native, grammar-constrained code generation for Python."""

from astgen.errors import (
    AstgenError,
    CheckpointError,
    CheckpointMismatchError,
    GrammarError,
    NoHoleError,
    SourceSyntaxError,
    UnsupportedSourceError,
)

__all__ = [
    "AstgenError",
    "CheckpointError",
    "CheckpointMismatchError",
    "GrammarError",
    "NoHoleError",
    "SourceSyntaxError",
    "UnsupportedSourceError",
]
__version__ = "0.1.0"
