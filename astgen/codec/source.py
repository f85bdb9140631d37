"""Reading and parsing Python source with typed errors (never a traceback for bad input)."""

from __future__ import annotations

import ast
import io
import sys
import tokenize
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from astgen.errors import SourceSyntaxError, UnsupportedSourceError

__all__ = [
    "DEEP_RECURSION",
    "decode_source_bytes",
    "deep_recursion",
    "parse_source",
    "quiet_compile",
    "quiet_parse",
    "read_source",
]

# Real files nest deeply (long elif chains, big literals); walking their trees needs more than the default 1000.
DEEP_RECURSION = 20000


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Raise the recursion limit to `DEEP_RECURSION` for the block (never lowers it), then restore it."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, DEEP_RECURSION))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def quiet_parse(source: str | bytes, filename: str = "<source>") -> ast.Module:
    """`ast.parse` without its SyntaxWarnings (invalid escapes in real files); errors propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source, filename=filename)


def quiet_compile(source: str | bytes | ast.Module, filename: str = "<source>") -> None:
    """`compile(..., "exec", dont_inherit=True)` without warnings: does it compile? (errors propagate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compile(source, filename, "exec", dont_inherit=True)


def decode_source_bytes(data: bytes, filename: str = "<source>") -> str:
    """Decode source bytes the way Python does (BOM, coding cookie, default UTF-8)."""
    if b"\x00" in data:
        raise UnsupportedSourceError(f"{filename}: binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:  # raised for undecodable bytes and bad coding cookies
        raise UnsupportedSourceError(
            f"{filename}: {e.msg if hasattr(e, 'msg') else e} (not UTF-8 and no usable coding cookie)"
        ) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as e:
        raise UnsupportedSourceError(f"{filename}: cannot decode as {encoding}: {e}") from None
    return text[1:] if text.startswith("\ufeff") else text


def read_source(path: str | Path) -> str:
    """Read a file as Python source text."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UnsupportedSourceError(f"{p}: cannot read: {e.strerror or e}") from None
    return decode_source_bytes(data, str(p))


def parse_source(text: str, filename: str = "<source>") -> ast.Module:
    """`ast.parse` with a typed error that carries file:line:col."""
    try:
        return quiet_parse(text, filename)
    except SyntaxError as e:  # say which Python's syntax: newer syntax is "invalid" to an older parser
        version = f"Python {sys.version_info.major}.{sys.version_info.minor} syntax"
        raise SourceSyntaxError(f"{e.msg} ({version})", filename, e.lineno, e.offset) from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise SourceSyntaxError(str(e), filename) from None
