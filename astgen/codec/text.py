"""Canonical source text for a target Python version.

`ast.unparse` writes what the running interpreter parses.  From 3.12 on it writes f-strings with the
outer quote reused inside replacement fields (`f'{d['k']}'`, PEP 701), which Python 3.11 cannot read; for
a 3.11 target on a newer interpreter the f-strings are written here in the older form instead: strings
inside replacement fields in single quotes, a nested f-string in double quotes, the outer one in
whichever quote its contents leave free.  The grammar keeps 3.11-target trees within what that form
can express (no quotes, backslashes or braces in strings inside replacement fields, one level of
nesting); anything else raises ValueError."""

from __future__ import annotations

import ast
import re
from typing import Any

from astgen.codec.source import deep_recursion
from astgen.grammar.lexical import FEXPR_SAFE
from astgen.grammar.versions import RUNNING, Version

__all__ = ["unparse"]

_CONVERSIONS = {-1: "", 115: "!s", 114: "!r", 97: "!a"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def unparse(tree: ast.AST, target_version: Version = RUNNING) -> str:
    """Source text of `tree` that Python `target_version` parses (canonical `ast.unparse` form)."""
    with deep_recursion():
        if target_version >= (3, 12) or RUNNING < (3, 12):
            text = ast.unparse(tree)
        else:
            text = _Unparser311().visit(tree)
    # 3.12+ writes docstrings with lone surrogates as they are, which no UTF-8 file can hold (and
    # compile() of the text rejects); inside a string literal the escape means the same character
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_Base: Any = getattr(ast, "_Unparser")  # noqa: B009  (the stdlib's unparser; only its f-strings change)
_PRECEDENCE: Any = getattr(ast, "_Precedence")  # noqa: B009


class _Unparser311(_Base):  # type: ignore[misc]
    """The stdlib unparser with Python 3.11's f-string quoting."""

    def __init__(self, depth: int = 0) -> None:
        super().__init__()
        self.fdepth = depth  # f-strings this node is nested in (0: not inside a replacement field)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        if self.fdepth > 1:
            raise ValueError("Python 3.11 cannot nest an f-string this deeply")
        nested = any(isinstance(n, ast.JoinedStr) for v in node.values for n in _field_nodes(v))
        strings = any(_is_text(n) for v in node.values for n in _field_nodes(v))
        if self.fdepth:  # inside a replacement field: double quotes, text that needs no escape
            quote = '"'
            if not all(b in FEXPR_SAFE for v in node.values if isinstance(v, ast.Constant) for b in _bytes_of(v)):
                raise ValueError("a nested f-string in Python 3.11 cannot hold quotes, backslashes or braces")
        elif nested:
            quote = '"""'
        elif strings:
            quote = '"'
        else:
            text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
            quote = '"' if "'" in text and '"' not in text else "'"
        literal = "".join(
            _escape(str(v.value), quote) if isinstance(v, ast.Constant) else self._field(v) for v in node.values
        )
        self.write("f" + quote + literal + quote)

    def _field(self, v: ast.expr, spec: bool = False) -> str:
        if not isinstance(v, ast.FormattedValue):
            raise ValueError(f"unexpected {type(v).__name__} in an f-string")
        inner = _Unparser311(self.fdepth + 1)
        inner.set_precedence(_PRECEDENCE.TEST.next(), v.value)
        for n in _field_nodes(v):
            if _is_text(n) and not all(b in FEXPR_SAFE for b in _bytes_of(n)):
                raise ValueError("Python 3.11 cannot write this string inside an f-string replacement field")
        text = inner.visit(v.value)
        if text.startswith("{"):
            text = " " + text
        out = "{" + text + _CONVERSIONS[v.conversion]
        if v.format_spec is not None:
            if not isinstance(v.format_spec, ast.JoinedStr):
                raise ValueError("a format spec must be an f-string")
            if spec and any(not isinstance(p, ast.Constant) for p in v.format_spec.values):
                raise ValueError("Python 3.11 nests format specs only once")
            out += ":" + "".join(
                str(p.value) if isinstance(p, ast.Constant) else self._field(p, spec=True) for p in v.format_spec.values
            )
        return out + "}"


def _field_nodes(v: ast.expr) -> list[ast.AST]:
    """The expression nodes inside a replacement field, those in its format spec's fields included
    (nothing for literal text; the spec's own text is not a string inside the field)."""
    if not isinstance(v, ast.FormattedValue):
        return []
    nodes = list(ast.walk(v.value))
    if isinstance(v.format_spec, ast.JoinedStr):
        for part in v.format_spec.values:
            nodes.extend(_field_nodes(part))
    return nodes


def _is_text(n: ast.AST) -> bool:
    return isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes))


def _bytes_of(n: ast.AST) -> bytes:
    value = getattr(n, "value", b"")
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def _escape(text: str, quote: str) -> str:
    """Literal f-string text for a string delimited by `quote`: braces doubled, escapes as repr writes them."""
    out: list[str] = []
    for ch in text:
        if ch in "{}":
            out.append(ch * 2)
        elif ch == "\\":
            out.append("\\\\")
        elif ch == quote[0]:
            out.append("\\" + ch)
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)
