"""Programs sampled from the mask alone pass ast.parse, compile() and tree-sitter-python
(except the documented constructs tree-sitter itself rejects), and pyflakes finds no undefined name
or local read before assignment in them."""

from __future__ import annotations

import ast

import pytest

from astgen.codec import Codec
from astgen.grammar.compiled import CompiledGrammar
from astgen.sampling import sample_uniform
from astgen.validity import TREE_SITTER_GAPS, check_source, tree_sitter_errors, tree_sitter_gap, undefined_names


def _check_batches(compiled: CompiledGrammar, codec: Codec, seeds: range) -> int:
    n = 0
    for seed in seeds:
        for ids in sample_uniform(compiled, 64, seed=seed, max_actions=400):
            src = codec.decode(ids)
            v = check_source(src)
            assert v.parses and v.compiles and v.tree_sitter_ok, f"seed {seed}: {v.error}\n{src}"
            assert not undefined_names(src), f"seed {seed}: {undefined_names(src)}\n{src}"
            n += 1
    return n


def test_sampled_programs_are_valid(compiled: CompiledGrammar, codec: Codec) -> None:
    assert _check_batches(compiled, codec, range(1000, 1003)) == 192


@pytest.mark.slow
def test_many_sampled_programs_are_valid(compiled: CompiledGrammar, codec: Codec) -> None:
    assert _check_batches(compiled, codec, range(2000, 2064)) == 4096


@pytest.mark.parametrize(
    ("source", "gap"),
    [
        ("*(a,), = x", "starred-sequence-target"),
        ("[*[a]] = x", "starred-sequence-target"),
        ("for *(a,), in x:\n    pass", "starred-sequence-target"),
        ("def f(*a: *1):\n    pass", "starred-vararg-annotation"),
        ("def f(*a: *(b + c)):\n    pass", "starred-vararg-annotation"),
        ("def f(*a: *b.c[0](d)):\n    pass", "starred-vararg-annotation"),
        ("x[*1] %= y", "starred-subscript-literal"),
        ("y = x[*[]]", "starred-subscript-literal"),
        ("y = x[*1(a)]", "starred-subscript-literal"),
        ("def f() -> x[y] + z:\n    pass", "generic-annotation-operand"),
        ("def f(a: x[y] or z):\n    pass", "generic-annotation-operand"),
        ("v: x[y][z]", "generic-annotation-operand"),
        ("def f() -> x[y].z < w:\n    pass", "generic-annotation-operand"),
    ],
)
def test_documented_tree_sitter_gaps(source: str, gap: str) -> None:
    tree = ast.parse(source)
    compile(tree, "<gap>", "exec")  # valid Python
    assert tree_sitter_errors(source)  # rejected by tree-sitter-python
    assert tree_sitter_gap(tree) == gap and gap in TREE_SITTER_GAPS


@pytest.mark.parametrize(
    "source",
    [
        "*a, = x",
        "for a, *b.c in x:\n    pass",
        "def f() -> list[int] | None:\n    pass",
        "def f() -> x[y].z:\n    pass",
        "def f() -> a.b[c] + d:\n    pass",
        "v: x() + y[z]",
        "y = x[*a.b, *c()]",
    ],
)
def test_close_relatives_are_not_exempt(source: str) -> None:
    tree = ast.parse(source)
    assert tree_sitter_gap(tree) is None and not tree_sitter_errors(source)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("print(x)\n", ["1:7: undefined name 'x'"]),
        (
            "x = 1\n\ndef f():\n    print(x)\n    x = 2\n",
            ["4:11: local variable 'x' defined in enclosing scope on line 1 referenced before assignment"],
        ),
        ("import os\n", []),  # unused import: not a name error
        ("def f(:\n", []),  # does not parse
    ],
)
def test_undefined_names_are_pyflakes_name_errors(source: str, found: list[str]) -> None:
    assert undefined_names(source) == found
