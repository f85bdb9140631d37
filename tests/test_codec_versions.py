"""Python 3.12 and 3.13 syntax in the codec: PEP 695 type parameters and `type` aliases, PEP 696 defaults,
PEP 701 f-strings; and nothing the grammar does not encode is ever dropped silently."""

from __future__ import annotations

import ast
import importlib
import sys

import pytest

from astgen.codec import Codec
from astgen.errors import UnsupportedSourceError

lower_module = importlib.import_module("astgen.codec.lower")

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)

NEW_SYNTAX = [
    pytest.param("class Box[T]:\n    def get(self) -> T:\n        return ...\n", PY312, id="generic class"),
    pytest.param("type Pair[T] = tuple[T, T]\ntype Num = int | float\n", PY312, id="type alias"),
    pytest.param("def first[T: (int, str), *Ts, **P](x: T, *a: *Ts) -> T:\n    return x\n", PY312, id="generic def"),
    pytest.param("async def agen[T](x: T):\n    yield x\n", PY312, id="generic async generator"),
    pytest.param("class C[T = int, *Ts = *tuple[int], **P = [int]]:\n    pass\n", PY313, id="type param defaults"),
    pytest.param("def f[T: int = bool]() -> T:\n    ...\n", PY313, id="bound and default"),
    pytest.param("x = f\"{'\\n'.join(rows)}\"\n", PY312, id="backslash in an f-string field"),
    pytest.param('x = f"{d["key"]} {f"{f"{f"{1}"}"}"}"\n', PY312, id="nested quotes and f-strings"),
    pytest.param("x = f'{v:{width}.{prec:{w}}}'\n", PY312, id="nested format specs"),
]


@pytest.mark.parametrize(("source", "supported"), NEW_SYNTAX)
def test_new_syntax_round_trips_exactly(codec: Codec, source: str, supported: bool) -> None:
    if not supported:
        pytest.skip(f"Python {sys.version_info[0]}.{sys.version_info[1]} does not parse this syntax")
    back = codec.decode(codec.encode(source))
    assert ast.dump(ast.parse(back)) == ast.dump(ast.parse(source)), back


# aliases kept for old code (3.8's deprecations); the parser never produces them
DEPRECATED = {"Num", "Str", "Bytes", "NameConstant", "Ellipsis", "Index", "ExtSlice", "Suite", "Param"}


def _node_classes() -> list[type[ast.AST]]:
    out = []
    for name in dir(ast):
        obj = getattr(ast, name)
        if isinstance(obj, type) and issubclass(obj, ast.AST) and obj._fields and name not in DEPRECATED:
            out.append(obj)
    return out


@pytest.mark.parametrize("cls", _node_classes(), ids=lambda c: c.__name__)
def test_every_field_of_the_running_ast_is_encoded_or_refused(cls: type[ast.AST]) -> None:
    """Each node type of this interpreter's `ast` is either encoded field by field, or refused."""
    encoded = lower_module.ENCODED_FIELDS.get(cls.__name__)
    if encoded is None:
        node = cls.__new__(cls)
        with pytest.raises(UnsupportedSourceError, match=cls.__name__):
            lower_module.check_encodable(node, "x.py")
        return
    for field in cls._fields:
        assert field in encoded or field in lower_module.UNENCODED_FIELDS, f"{cls.__name__}.{field}"


def test_an_unknown_field_is_refused_with_its_place() -> None:
    tree = ast.parse("def f(x):\n    return x\n")
    fn = tree.body[0]
    fn.future_field = [ast.Name("T")]  # type: ignore[attr-defined]
    fn._fields = (*fn._fields, "future_field")  # what a newer Python's ast would carry
    with pytest.raises(UnsupportedSourceError, match=r"m\.py:1:1: .*FunctionDef\.future_field"):
        lower_module.check_encodable(tree, "m.py")


@pytest.mark.skipif(PY312, reason="3.12+ parses the new syntax")
def test_new_syntax_on_311_is_a_syntax_error_naming_the_version(codec: Codec) -> None:
    from astgen.errors import SourceSyntaxError

    with pytest.raises(SourceSyntaxError, match=r"Python 3\.11"):
        codec.encode("type Pair[T] = tuple[T, T]\n", "t.py")
