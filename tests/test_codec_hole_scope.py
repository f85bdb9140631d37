"""What a hole's fill must keep, read from the code around it (astgen.codec.hole_scope)."""

from __future__ import annotations

import ast

import pytest

from astgen.codec import Codec
from astgen.codec.hole_scope import FORBID, FREE, REQUIRE, HoleContext, generator_holes, hole_contexts
from astgen.codec.holes import holed_program
from astgen.grammar.compiled import CompiledGrammar

H = "__astgen_hole_0__"


def _context(source: str, generators: tuple[int, ...] = ()) -> HoleContext:
    return hole_contexts(ast.parse(source), generators)[0]


@pytest.mark.parametrize(
    ("source", "nobind"),
    [
        # a global read, a name read by a nested function, a free variable: all resolved outside
        (f"g = 0\n\ndef f(a):\n    b = a\n    {H}\n    return b, g, len(a)\n", {"g", "len"}),
        (f"def f():\n    {H}\n    def inner():\n        return seen\n", {"seen"}),
        (f"def outer():\n    n = 0\n    def f():\n        {H}\n        return n\n    return f\n", {"n"}),
        # declared names are the declaration's business: binding them does not make them local
        (f"def f():\n    global g\n    {H}\n    return g\n", set()),
        (f"def outer():\n    n = 0\n    def f():\n        nonlocal n\n        {H}\n        return n\n", set()),
        # a lambda is a scope of its own; a comprehension's walrus binds in the function around it
        (f"def f(xs):\n    return lambda y: {H} + y + z\n", {"z"}),
        (f"def f(xs):\n    return [{H} for x in xs if k]\n", {"k"}),
    ],
)
def test_names_read_from_outside_may_not_be_bound(source: str, nobind: set[str]) -> None:
    assert set(_context(source).nobind) == nobind


def test_module_and_class_holes_bind_freely_but_keep_what_is_used() -> None:
    module = _context(f"import os\n{H}\nprint(os.sep, x)\n")
    assert module.nobind == () and {"os", "print", "x"} <= set(module.keep)
    klass = _context(f"class C:\n    size = 1\n    {H}\n    twice = size * 2\n")
    assert klass.nobind == () and {"size", "twice"} <= set(klass.keep)


def test_a_default_argument_belongs_to_the_scope_around_the_def() -> None:
    ctx = _context(f"def outer():\n    limit = 3\n    def f(x={H}):\n        return x + y\n    return f\n")
    assert set(ctx.keep) == {"limit", "f"} and "x" not in ctx.keep


@pytest.mark.parametrize(
    ("source", "generators", "yields"),
    [
        (f"def f():\n    {H}\n", (), FORBID),
        (f"def f():\n    {H}\n", (0,), REQUIRE),
        (f"def f():\n    {H}\n    yield 1\n", (0,), FREE),
        (f"def f():\n    {H}\n    def g():\n        yield 1\n", (), FORBID),
        (f"async def f():\n    {H}\n", (), FORBID),
        (f"{H}\n", (0,), FREE),
        (f"class C:\n    {H}\n", (), FREE),
    ],
)
def test_yield_rules(source: str, generators: tuple[int, ...], yields: str) -> None:
    assert _context(source, generators).yields == yields


def test_markers_are_never_names_to_keep() -> None:
    ctx = hole_contexts(ast.parse(f"def f():\n    {H}\n    __astgen_hole_1__\n    return q\n"))
    assert set(ctx) == {0, 1} and all("hole" not in n for c in ctx.values() for n in (*c.nobind, *c.keep))


def test_generator_holes_match_functions_by_def_line() -> None:
    original = ast.parse("def a():\n    yield 1\n\ndef b():\n    return 2\n")
    marked = ast.parse(f"def a():\n    {H}\n\ndef b():\n    __astgen_hole_1__\n")
    assert generator_holes(original, marked) == [0]


def test_an_async_def_whose_only_yield_is_the_hole_stays_an_async_generator(
    codec: Codec, compiled: CompiledGrammar
) -> None:
    source = f"async def ticks(n):\n    {H}\n"
    plain = holed_program(codec, source, 10**6, markers=True)
    kept = holed_program(codec, source, 10**6, markers=True, generators=[0])
    ctor = compiled.vocab.ctor_id
    assert ctor("AsyncFunctionDef-decorator_list-returns") in plain.tokens
    assert ctor("AsyncGenDef-decorator_list-returns") in kept.tokens
    assert kept.contexts[0].yields == REQUIRE and plain.contexts[0].yields == FORBID


@pytest.mark.parametrize(
    ("source", "unbound"),
    [
        (f"def f(a):\n    {H}\n    total = a\n    return total\n", {"total"}),
        (f"def f(a):\n    total = 0\n    {H}\n    total = a\n", set()),
        (f"def f(xs):\n    for x in xs:\n        {H}\n        last = x\n", {"last"}),
        (f"def f(xs):\n    {H}\n    import os\n    ys = [y for y in xs]\n    return os, ys\n", {"os", "ys"}),
        (f"def f(xs):\n    if (n := len(xs)):\n        {H}\n", set()),
        (f"{H}\nlater = 1\n", set()),  # module level: not a local
    ],
)
def test_locals_bound_only_after_the_hole_may_not_be_read(source: str, unbound: set[str]) -> None:
    assert set(_context(source).unbound) == unbound


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("def f():\n    __astgen_hole_0__\n\nLIMIT = 3\n\nclass C:\n    x = 1\n", {"f", "LIMIT", "C"}),
        ("import os.path\nfrom m import a as b\n\ndef f():\n    __astgen_hole_0__\n", {"os", "b", "f"}),
        ("xs = [i for i in ()]\ntmp = 1\ndel tmp\n\ndef f():\n    __astgen_hole_0__\n", {"xs", "f"}),
        ("try:\n    pass\nexcept E as e:\n    pass\n\ndef f():\n    __astgen_hole_0__\n", {"f"}),
        ("LIMIT = 3\n__astgen_hole_0__\n", set()),  # at module level only what is bound before counts
    ],
)
def test_module_names_a_function_fill_may_read(source: str, names: set[str]) -> None:
    assert set(_context(source).module_names) == names


@pytest.mark.parametrize(
    ("source", "must"),
    [
        # read after the hole, bound nowhere: the fill must bind it (and may, although it is read from "outside")
        (f"def f(a):\n    {H}\n    return total + a\n", {"total"}),
        (f"def f(xs):\n    {H}\n    return [x * k for x in xs]\n", {"k"}),  # read in a comprehension
        (f"import os\n{H}\nif TYPE_CHECKING:\n    pass\n", {"TYPE_CHECKING"}),
        # not owed: a builtin, a module name, a local bound elsewhere, a read before the hole, a star import
        (f"def f(a):\n    {H}\n    return len(a)\n", set()),
        (f"def f(a):\n    {H}\n    return LIMIT\n\nLIMIT = 3\n", set()),
        (f"def f(a):\n    if a:\n        total = 1\n    {H}\n    return total\n", set()),
        (f"def f(a):\n    print(total)\n    {H}\n    return total\n", set()),
        (f"from m import *\n\ndef f(a):\n    {H}\n    return total\n", set()),
        (f"class C:\n    {H}\n    y = x\n", set()),  # (a class body: left alone)
        # a class body runs where it stands: its reads of names it does not bind are the module's
        (f"{H}\n\nclass C(Base):\n    x = 1\n    y = x + Spec()\n", {"Base", "Spec"}),
        # a `nonlocal` in a nested function needs a binding in the function around it
        (f"def f():\n    {H}\n\n    def g():\n        nonlocal n\n        n += 1\n    return g\n", {"n"}),
        (f"def f(n):\n    {H}\n\n    def g():\n        nonlocal n\n        n += 1\n    return g\n", set()),
    ],
)
def test_names_the_code_after_a_hole_needs(source: str, must: set[str]) -> None:
    context = _context(source)
    assert set(context.must_bind) == must
    assert not must & set(context.nobind)


def test_a_scope_error_no_hole_can_fix_is_a_typed_error() -> None:
    from astgen.errors import SourceSyntaxError

    with pytest.raises(SourceSyntaxError, match="nonlocal"):
        _context(f"{H}\n\ndef f():\n    def g():\n        nonlocal n\n")


@pytest.mark.parametrize(
    ("source", "bound", "unbound"),
    [
        # an assignment binds once its value has run: a hole in the value cannot read the target yet
        (f"T = V({H})\n", set(), set()),
        (f"x = 1\nx = g({H})\n", {"x"}, set()),
        (f"def f():\n    x = g({H})\n    return x\n", set(), {"x"}),
        (f"for i in {H}:\n    pass\n", set(), set()),
        (f"for i in range(3):\n    {H}\n", {"i"}, set()),
        (f"with open({H}) as fh:\n    pass\n", set(), set()),
    ],
)
def test_a_binding_takes_effect_after_the_code_that_computes_it(
    source: str, bound: set[str], unbound: set[str]
) -> None:
    context = _context(source)
    assert (set(context.bound), set(context.unbound)) == (bound, unbound)
