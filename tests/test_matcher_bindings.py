"""Where a name is bound, as Python binds it: an assignment's targets bind only once its value is read
(`x = x` in a function reads a local that does not exist yet), a def's name binds in the scope around
the def, and neither refuses ordinary code."""

from __future__ import annotations

import pytest

from astgen.codec import Codec
from astgen.grammar.compiled import CompiledGrammar

torch = pytest.importorskip("torch")

from astgen.matcher import Matcher, MatcherConfig  # noqa: E402

# UnboundLocalError at run time (pyflakes: "local variable referenced before assignment")
UNBOUND = [
    "def f():\n    x = x\n",
    "def f(s):\n    repr = repr(s)\n",
    "def f(s):\n    a, b = b, s\n",
    "def f(s):\n    a = b = g(b)\n",
    "def f(s):\n    v: int = v + 1\n",
    "def f(s):\n    for x in g(x):\n        pass\n",
    "async def f(s):\n    async for x in g(x):\n        pass\n",
    "def f(s):\n    print((y := y + 1))\n",
    "def f(s):\n    def g():\n        pass\n    x = [(y := x) for _ in s]\n",
]

# ordinary code in the same shapes (after a star import, so that strict lookups allow every free name)
BOUND = [
    "from m import *\n" + source
    for source in [
        "def f(x):\n    x = x + 1\n",
        "def f():\n    x = 1\n    x = x + 1\n",
        "def f(xs):\n    for x in xs:\n        x = str(x)\n",
        "def f(path):\n    for path in g(path):\n        pass\n",
        "def f():\n    y = (z := 1) + z\n",
        "def f():\n    g = lambda n: g(n - 1)\n",
        "def f(s):\n    x = [i for i in s if i]\n",
        "def f(s):\n    for i, x in enumerate(s):\n        y = x\n    return y\n",
        "def f(fn):\n    def wrapper():\n        pass\n    wrapper = wraps(fn)(wrapper)\n",
        "class C:\n    @property\n    def p(self):\n        pass\n\n    @p.setter\n    def p(self, v):\n        pass\n",
        "class C:\n    codec = codec\n",
        "repr = repr(1)\nfor x in x:\n    pass\n",
        "def f():\n    global x\n    x = x + 1\n",
        "def f():\n    import os.path\n    path = os.path\n",
    ]
]


def first_refused(codec: Codec, compiled: CompiledGrammar, source: str) -> int | None:
    """The index of the first action of `source` that the strict mask refuses, or None."""
    m = Matcher(compiled, 1)
    for i, a in enumerate(codec.encode(source)):
        if not bool(m.mask()[0, a]):
            return i
        m.advance(torch.tensor([a]))
    return None


@pytest.mark.parametrize("source", UNBOUND)
def test_reading_a_name_its_own_binding_waits_for_is_refused(
    codec: Codec, compiled: CompiledGrammar, source: str
) -> None:
    assert first_refused(codec, compiled, source) is not None


@pytest.mark.parametrize("source", BOUND)
def test_ordinary_bindings_are_allowed(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert first_refused(codec, compiled, source) is None


def assert_replay_matches_advance(codec: Codec, compiled: CompiledGrammar, source: str, cuts_per_file: int) -> None:
    """Matcher.replayed (scalar walk) and step-by-step advance give equal states at several cuts."""
    ids = codec.encode(source)
    cuts = list(range(1, len(ids), max(1, len(ids) // cuts_per_file)))
    fast = Matcher.replayed(compiled, [ids[:c] for c in cuts])
    for row, c in enumerate(cuts):
        slow = Matcher(compiled, 1, config=MatcherConfig(host_rows=0))
        for a in ids[:c]:
            slow.advance(torch.tensor([a]))
        for name in Matcher._STATE:
            assert torch.equal(getattr(fast, name)[row], getattr(slow, name)[0]), (name, c)


@pytest.mark.parametrize("source", UNBOUND[:3] + BOUND)
def test_replay_keeps_held_bindings_like_advance(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert_replay_matches_advance(codec, compiled, source, 9)
