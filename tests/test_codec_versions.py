"""Python 3.12 and 3.13 syntax in the codec: PEP 695 type parameters and `type` aliases, PEP 696 defaults,
PEP 701 f-strings; and nothing the grammar does not encode is ever dropped silently."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_a_target_version_masks_newer_syntax(compiled) -> None:  # type: ignore[no-untyped-def]
    """Mask-only samples with every constructor allowed use 3.12+ syntax; with a 3.11 target, never."""
    pytest.importorskip("torch")
    from astgen.matcher import MatcherConfig
    from astgen.sampling import sample_uniform

    table = compiled.arrays["rule_table"]
    since = compiled.arrays["rule_since"][table]  # per (symbol, action)
    offered = table > 0
    # actions that exist only as newer syntax (`Starred`, say, is old syntax in most places)
    newer = {int(a) for a in np.flatnonzero((offered & (since > 311)).any(0) & ~(offered & (since <= 311)).any(0))}
    assert len(newer) > 20

    def used(target: tuple[int, int] | None) -> set[int]:
        cfg = MatcherConfig(max_actions=300, max_terminal_pieces=3, stack_capacity=256, target_version=target)
        rows = sample_uniform(compiled, 48, seed=3, max_actions=300, config=cfg)
        return {a for row in rows for a in row} & newer

    assert used(None)  # the grammar does offer newer syntax
    assert not used((3, 11))


@pytest.mark.parametrize("bad", ["3.99", "2.7", "3", (3, 10)])
def test_an_unusable_target_version_is_refused(bad: object) -> None:
    from astgen.errors import InvalidOptionError
    from astgen.grammar.versions import parse_version

    with pytest.raises(InvalidOptionError):
        parse_version(bad)  # type: ignore[arg-type]


BOX = "class Box[T]:\n    def get(self) -> T:\n        return ...\n"


@pytest.mark.skipif(not PY312, reason="generic classes are 3.12 syntax")
def test_a_generic_class_keeps_its_type_parameters(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    from astgen.refactor import SamplingConfig, fill_file_bytes

    canonical = tiny_generator.infill(BOX, max_actions=16)
    assert canonical.startswith("class Box[T]:\n"), canonical
    filled = fill_file_bytes(tiny_generator, BOX.encode(), "box.py", SamplingConfig(max_actions=16)).decode()
    assert filled.startswith("class Box[T]:\n    def get(self) -> T:\n        return "), filled
    alias = tiny_generator.infill("type Pair[T] = tuple[T, T]\nx: Pair[int] = ...\n", max_actions=16)
    assert alias.startswith("type Pair[T] = tuple[T, T]\n"), alias


FSTRINGS = [
    "x = f\"{d['k']} {y!r:>{w}}\"\n",
    "x = f'{f\"{a}-{b}\"} tail\\n'\n",
    "x = f'{ {1: 2}[1]}'\n",
    'x = f\'{v:{d["k"]}>{b"w"!r}}\'\n',  # strings in a format spec's fields decide the outer quote too
]


@pytest.mark.skipif(not PY312, reason="3.12+ writes f-strings in the PEP 701 form")
@pytest.mark.parametrize("source", FSTRINGS)
def test_a_311_target_writes_f_strings_311_reads(source: str) -> None:
    from astgen.codec.text import unparse

    tree = ast.parse(source)
    text = unparse(tree, (3, 11))
    assert ast.dump(ast.parse(text)) == ast.dump(tree)
    python311 = shutil.which("python3.11") or "/root/.pyenv/versions/3.11.7/bin/python"
    if not Path(python311).exists():
        pytest.skip("no Python 3.11 interpreter to read it")
    check = subprocess.run([python311, "-c", "import ast, sys; ast.parse(sys.stdin.read())"], input=text, text=True)
    assert check.returncode == 0, text
