"""Fills keep the meaning of the code around them, enforced by the mask: a model pushed hard towards a
fill that would change it (tests/scripted_model.py) writes that fill when the rule is off and cannot
when it is on."""

from __future__ import annotations

import ast
import contextlib
import symtable

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import astgen.codec.holes as holes_module  # noqa: E402
from astgen.generator import Generator  # noqa: E402
from tests.scripted_model import scripted_generator  # noqa: E402

MAX = 48


def _fill(gen: Generator, holed: str, planned: str, rules: bool, monkeypatch: pytest.MonkeyPatch, **kw: object) -> str:
    scripted = scripted_generator(gen, holed, planned, MAX)
    with monkeypatch.context() as m:
        if not rules:
            m.setattr(holes_module, "hole_contexts", lambda module, generators=(): {})
        return scripted.infill(holed, max_actions=MAX, **kw)  # type: ignore[arg-type]


def _canon(source: str) -> str:
    return ast.unparse(ast.parse(source))


def _function(source: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise AssertionError(f"no function {name}")


def _is_generator(source: str, name: str) -> bool:
    stack = list(ast.iter_child_nodes(_function(source, name)))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _locals(source: str, name: str) -> set[str]:
    table = symtable.symtable(source, "<t>", "exec")
    [fn] = [t for t in table.get_children() if t.get_name() == name]
    return {s.get_name() for s in fn.get_symbols() if s.is_local()}


LOOP = "def scan(items):\n    for x in items:\n        ...\n    return items\n"


@pytest.mark.parametrize(
    "plan",
    ["yield x", "print((yield x))", "yield from items"],
)
def test_no_yield_in_a_plain_function(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch, plan: str) -> None:
    planned = LOOP.replace("...", plan)
    assert _fill(tiny_generator, LOOP, planned, False, monkeypatch) == _canon(planned)  # reachable without the rule
    filled = _fill(tiny_generator, LOOP, planned, True, monkeypatch)
    assert not _is_generator(filled, "scan"), filled


def test_a_nested_generator_in_the_fill_is_fine(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = LOOP.replace("...", "def g():\n            yield x\n        f = lambda: (yield)")
    assert _fill(tiny_generator, LOOP, planned, True, monkeypatch) == _canon(planned)


def test_a_generator_stays_a_generator(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    holed = "def walk(items):\n    seen = 0\n    ...\n"
    planned = holed.replace("...", "return list(items)")
    assert not _is_generator(_fill(tiny_generator, holed, planned, False, monkeypatch), "walk")
    scripted = scripted_generator(tiny_generator, holed, planned, MAX)
    (fill,) = scripted.fill_holes(
        holed.replace("...", "__astgen_hole_0__"), max_actions=MAX, markers=True, generators=[0]
    ).values()
    assert isinstance(fill, list)
    body = ast.unparse(ast.Module(body=fill, type_ignores=[]))
    assert _is_generator(holed.replace("...", body.replace("\n", "\n    ")), "walk"), body


def test_a_function_that_yields_elsewhere_may_yield(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    holed = "def pairs(items):\n    for x in items:\n        ...\n    yield None\n"
    planned = holed.replace("...", "yield x")
    assert _fill(tiny_generator, holed, planned, True, monkeypatch) == _canon(planned)


OUTER = "total = 0\nresult = []\n\ndef add(items):\n    for x in items:\n        ...\n    return result, total\n"


@pytest.mark.parametrize(
    "plan",
    [
        "result = x",
        "for result in items:\n            pass",
        "with x as result:\n            pass",
        "try:\n            pass\n        except Exception as result:\n            pass",
        "import result",
        "from m import result",
        "print((result := x))",
        "def result():\n            pass",
        "class result:\n            pass",
        "match x:\n            case [result]:\n                pass",
    ],
)
def test_no_binding_of_a_name_read_from_outside(
    tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    planned = OUTER.replace("...", plan)
    assert "result" in _locals(_fill(tiny_generator, OUTER, planned, False, monkeypatch), "add")
    filled = _fill(tiny_generator, OUTER, planned, True, monkeypatch)
    assert "result" not in _locals(filled, "add"), filled


def test_local_names_may_be_rebound(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = OUTER.replace("...", "x = x + 1\n        self = result")
    assert _fill(tiny_generator, OUTER, planned, True, monkeypatch) == _canon(planned)


@pytest.mark.parametrize("plan", ["del x", "del (x, y)"])
def test_no_del_of_a_name_used_outside(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch, plan: str) -> None:
    holed = "def f(x):\n    y = x\n    ...\n    return x\n"
    planned = holed.replace("...", plan)
    assert _fill(tiny_generator, holed, planned, False, monkeypatch) == _canon(planned)
    filled = _fill(tiny_generator, holed, planned, True, monkeypatch)
    deleted = {
        t.id
        for n in ast.walk(_function(filled, "f"))
        if isinstance(n, ast.Delete)
        for t in ast.walk(n)
        if isinstance(t, ast.Name)
    }
    assert not deleted & {"x", "y"}, filled


def test_no_global_of_a_name_used_outside(tiny_generator: Generator, compiled, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Strict sampling allows `global` only before a body's statements; lenient decoding allows it
    anywhere, so the `keep` set is what stops it here."""
    from astgen.codec.holes import holed_program
    from astgen.decoding import DecodeConfig, decode_holes

    holed = "def f():\n    y = 1\n    ...\n    return x\n"
    planned = "def f():\n    y = 1\n    global x\n    return x\n"
    scripted = scripted_generator(tiny_generator, holed, planned, MAX)
    cfg = DecodeConfig(max_actions=MAX, strict=False)
    for rules in (False, True):
        with monkeypatch.context() as m:
            if not rules:
                m.setattr(holes_module, "hole_contexts", lambda module, generators=(): {})
            program = holed_program(scripted.codec, holed, scripted.config.hole_id)
        c = scripted.config
        task = program.task(0, [], cfg.context, cfg.max_actions, c.bos_id, c.sep_id)
        [answer] = decode_holes(scripted.model, compiled, [task], cfg, c.pad_id, c.sep_id)
        body = scripted.codec.decode_hole(program.symbols[0], True, answer)
        declared = {n for s in body if isinstance(s, ast.Global) for n in s.names}  # type: ignore[union-attr]
        assert ("x" in declared) is not rules, declared


def test_no_read_of_a_local_bound_only_after_the_hole(
    tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    holed = "s = ''\n\ndef f(x):\n    ...\n    s = str(x)\n    return s\n"
    planned = holed.replace("...", "print(s)")
    assert _fill(tiny_generator, holed, planned, False, monkeypatch) == _canon(planned)
    filled = _fill(tiny_generator, holed, planned, True, monkeypatch)
    fn = _function(filled, "f")
    first = fn.body[0]
    assert not any(isinstance(n, ast.Name) and n.id == "s" for n in ast.walk(first)), filled


def test_a_name_the_fill_reads_from_outside_it_may_not_bind_later(
    tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`n = len(sub); len = n` makes `len` local to the whole function (UnboundLocalError at the read);
    binding first and reading after is ordinary code and stays possible."""
    holed = "def f(sub):\n    ...\n    return sub\n"
    read_then_bind = holed.replace("...", "n = len(sub)\n    len = n")
    filled = _fill(tiny_generator, holed, read_then_bind, True, monkeypatch)
    assert "len" not in _locals(filled, "f"), filled
    bind_then_read = holed.replace("...", "len = 3\n    n = len")
    assert _fill(tiny_generator, holed, bind_then_read, True, monkeypatch) == _canon(bind_then_read)


@pytest.mark.parametrize(
    "plan",
    ["repr = repr(sub)", "for f in f(sub):\n        pass", "v = w = g(w)"],
)
def test_a_fill_does_not_read_the_local_it_is_binding(
    tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    """The 1,000-infill check's last UndefinedLocal pattern: the target is written before the value, but
    Python binds it after, so the value's read of the same name finds no local."""
    holed = "def f(sub):\n    ...\n    return sub\n"
    filled = _fill(tiny_generator, holed, holed.replace("...", plan), True, monkeypatch)
    [first] = _function(filled, "f").body[:1]
    bound = {n.id for n in ast.walk(first) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    read = {n.id for n in ast.walk(first) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert not (bound & read) - {"sub"}, filled
    rebinding = holed.replace("...", "sub = repr(sub)")
    assert _fill(tiny_generator, holed, rebinding, True, monkeypatch) == _canon(rebinding)


def test_a_fill_reads_module_names_bound_after_it(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A function runs after the module has: names the module binds below the hole are visible."""
    holed = "def f(x):\n    ...\n\nLIMIT = 3\n\ndef g():\n    pass\n"
    planned = holed.replace("...", "return g(LIMIT, x)")
    assert _fill(tiny_generator, holed, planned, True, monkeypatch) == _canon(planned)


def test_a_fill_never_reads_an_undefined_name(tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    from astgen.validity import undefined_names

    holed = "def f(x):\n    ...\n"
    planned = holed.replace("...", "return missing(x)")
    filled = _fill(tiny_generator, holed, planned, True, monkeypatch)
    assert "missing" not in filled and not undefined_names(filled), filled


@pytest.mark.parametrize(
    ("holed", "name"),
    [
        ("def f(x):\n    ...\n    return total + x\n", "total"),
        ("def f(xs):\n    y = len(xs)\n    ...\n    return [v * scale for v in xs] + [y]\n", "scale"),
        ("import os\n...\nprint(TYPE_CHECKING)\n", "TYPE_CHECKING"),
        ("def f():\n    ...\n\n    def g():\n        nonlocal n\n        n += 1\n    return g\n", "n"),
    ],
)
def test_a_fill_binds_what_the_code_after_it_reads(
    tiny_generator: Generator, monkeypatch: pytest.MonkeyPatch, holed: str, name: str
) -> None:
    """A model that wants to leave the name unbound (`pass`) still gets a fill that binds it: where
    the hole would end, the decoder writes `NAME =` and the model the value."""
    from astgen.validity import undefined_names

    unbound = holed.replace("...", "pass")
    with pytest.raises(SyntaxError) if "nonlocal" in holed else contextlib.nullcontext():
        compile(unbound, "<unbound>", "exec")
        assert undefined_names(unbound)
    filled = _fill(tiny_generator, holed, holed.replace("...", "pass"), True, monkeypatch)
    assert not undefined_names(filled), filled
    compile(filled, "<fill>", "exec")
    assert any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store) for n in ast.walk(ast.parse(filled))
    ), filled
    # a plan that binds it already is followed as it is
    planned = holed.replace("...", f"{name} = 2")
    assert _fill(tiny_generator, holed, planned, True, monkeypatch) == _canon(planned)
