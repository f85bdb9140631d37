"""Typed errors.  Every user-facing failure is one of these, with a message a user can act on."""

from __future__ import annotations

__all__ = [
    "AstgenError",
    "CheckpointError",
    "CheckpointMismatchError",
    "GrammarError",
    "InfillError",
    "InvalidOptionError",
    "NoCheckError",
    "NoHoleError",
    "NoPassingFillError",
    "NoPassingFillWarning",
    "SourceSyntaxError",
    "UnsupportedSourceError",
]


class AstgenError(Exception):
    """Base class of all astgen errors."""


class GrammarError(AstgenError):
    """The grammar file is malformed, or a tree is outside the grammar."""


class SourceSyntaxError(AstgenError):
    """Input source that Python itself does not accept; carries file:line:col."""

    def __init__(self, msg: str, filename: str = "<source>", lineno: int | None = None, col: int | None = None):
        self.msg = msg
        self.filename = filename
        self.lineno = lineno
        self.col = col
        where = filename
        if lineno is not None:
            where += f":{lineno}"
            if col is not None:
                where += f":{col}"
        super().__init__(f"{where}: {msg}")


class UnsupportedSourceError(AstgenError):
    """Input that is not Python source text at all (binary data, undecodable bytes)."""


class NoHoleError(AstgenError):
    """Infilling was asked for but the source contains no hole (`...`)."""


class InvalidOptionError(AstgenError, ValueError):
    """A decoding option outside its range (a temperature below 0, a budget the model window cannot hold)."""


class InfillError(AstgenError):
    """Filling a hole produced no program that compiles (after the allowed retries)."""


class CheckpointError(AstgenError):
    """A checkpoint folder is missing, incomplete or unreadable."""


class CheckpointMismatchError(AstgenError):
    """A checkpoint was trained for a different grammar (its grammar hash differs)."""


class NoCheckError(AstgenError):
    """A check has nothing to run for a file (e.g. --doctest where no function with a hole has examples)."""


class NoPassingFillError(AstgenError):
    """No sampled fill passed the file's check; `best` holds the most likely fill's bytes (not written)."""

    def __init__(self, message: str, best: bytes):
        super().__init__(message)
        self.best = best


class NoPassingFillWarning(UserWarning):
    """`infill(..., check=...)`: no candidate passed the check; the most likely one was returned."""
