"""Round-trip checks: decode(encode(file)) must be `ast.dump`-equal to the file, with action statistics."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from astgen.codec import default_codec, parse_source, read_source
from astgen.codec.source import deep_recursion, quiet_parse
from astgen.compiled_default import default_compiled
from astgen.errors import AstgenError
from astgen.grammar.replay import replay

__all__ = ["RoundtripResult", "roundtrip_file", "roundtrip_source"]


@dataclass(frozen=True)
class RoundtripResult:
    """Outcome for one file.  status: exact | mismatch | error | unparsable (ast.parse rejects it)."""

    path: str
    status: str
    chars: int = 0
    actions: int = 0
    forced: int = 0
    message: str = ""


def roundtrip_source(source: str, path: str = "<source>") -> RoundtripResult:
    codec = default_codec()
    try:
        tree = parse_source(source, path)
    except AstgenError as e:
        return RoundtripResult(path, "unparsable", message=str(e))
    try:
        with deep_recursion():
            ids = codec.encode_tree(tree, path)
            out = codec.decode(ids)
            same = ast.dump(quiet_parse(out)) == ast.dump(tree)
            forced = replay(default_compiled(), ids).n_forced
    except (AstgenError, SyntaxError, ValueError, RecursionError) as e:
        return RoundtripResult(path, "error", message=f"{type(e).__name__}: {e}")
    if not same:
        return RoundtripResult(path, "mismatch", len(out), len(ids), forced, "decoded tree differs")
    return RoundtripResult(path, "exact", len(out), len(ids), forced)


def roundtrip_file(path: str | Path) -> RoundtripResult:
    try:
        source = read_source(path)
    except AstgenError as e:
        return RoundtripResult(str(path), "unparsable", message=str(e))
    return roundtrip_source(source, str(path))
