"""decode(encode(f)) is ast.dump-equal to f: stdlib files (a seeded sample; all of them under -m slow)
and random programs from hypothesmith."""

from __future__ import annotations

import ast
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings

from astgen.codec import Codec
from astgen.codec.source import quiet_parse
from astgen.roundtrip import roundtrip_file
from tests.conftest import stdlib_sample


@pytest.mark.parametrize("path", stdlib_sample(40, seed=1), ids=lambda p: p.name)
def test_stdlib_sample_round_trips_exactly(path: Path) -> None:
    r = roundtrip_file(path)
    assert r.status in ("exact", "unparsable"), r.message


@pytest.mark.slow
@pytest.mark.parametrize("path", stdlib_sample(0), ids=lambda p: str(p))
def test_every_stdlib_file_round_trips_exactly(path: Path) -> None:
    r = roundtrip_file(path)
    assert r.status in ("exact", "unparsable"), r.message


def _check(codec: Codec, source: str) -> None:
    try:
        tree = quiet_parse(source)
    except (SyntaxError, ValueError):
        return
    out = codec.decode(codec.encode(source))
    assert ast.dump(quiet_parse(out)) == ast.dump(tree), (source, out)


_HYP = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)


@settings(_HYP, max_examples=150)
@given(hypothesmith.from_grammar())
def test_hypothesmith_programs_round_trip(codec: Codec, source: str) -> None:
    _check(codec, source)


@pytest.mark.slow
@settings(_HYP, max_examples=2000)
@given(hypothesmith.from_grammar())
def test_hypothesmith_programs_round_trip_many(codec: Codec, source: str) -> None:
    _check(codec, source)


@pytest.mark.parametrize(
    "source",
    [
        "",
        '"""doc"""\nfrom __future__ import annotations\nx: int = 1\n',
        "async def f():\n    yield 1\n    async for x in y:\n        await x\n",
        "async def g():\n    return [x async for x in y]\n",
        "def f(a, b=1, /, c=2, *d: *Ts, e, f=3, **g) -> None:\n    global q\n    nonlocal_ = lambda h, i=1, *j, k, **l: (yield)\n",
        "def outer():\n    x = 1\n    def inner():\n        nonlocal x\n        x += 1\n",
        "match p:\n    case [1, *rest] | (2, *rest) if rest:\n        pass\n    case {'k': v, **kw}:\n        pass\n    case Point(x=0, y=-1.5) | Point(1 + 2j):\n        pass\n    case a.b.C():\n        pass\n    case _:\n        pass\n",
        "try:\n    pass\nexcept* (A, B) as e:\n    pass\nelse:\n    pass\nfinally:\n    pass\n",
        "f'{x!r:>{width}} and {y:{z}.{w}f} {f\"{q}\"}'\n",
        "x = u'unicode' + b'\\x00\\xff' + 'lone \\ud800 surrogate'\ny = 1e999 + 2j - 0.5\n",
        "del a, b[1:2, ::3], c.d\n(x) : int = 1\nx = y = z = (w := 4)\n",
        "from . import a\nfrom ..b.c import (d as e, f)\nimport g.h as i\nfrom j import *\n",
        "class C(B, metaclass=M, **kw):\n    '''doc'''\n    x: int\n    def m(self, /): return super().m()\n",
        "with a as (b, c), d:\n    pass\nwhile x:\n    break\nelse:\n    continue_ = 1\n",
        "print(*a, *b, c=1, **d)\nr = [*a, *b]\ns = {**a, 'b': 1}\nt = a[1:2, *b]\n",
    ],
    ids=lambda s: s.split("\n", 1)[0][:30] or "empty",
)
def test_constructs_round_trip(codec: Codec, source: str) -> None:
    _check(codec, source)
