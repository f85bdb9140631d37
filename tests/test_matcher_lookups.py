"""Strict lookups: a name in a load position must be one Python makes visible there (a binding seen
through the scope chain, a builtin, anything after a star import), so sampled and filled code has no
undefined names.  Each refused program below has a pyflakes report or a compile() error; each
accepted one has neither."""

from __future__ import annotations

import pytest

from astgen.codec import Codec
from astgen.grammar.actions import END, STOP
from astgen.grammar.compiled import CompiledGrammar
from astgen.validity import undefined_names

torch = pytest.importorskip("torch")

from astgen.matcher import Matcher, MatcherConfig, SeedEntry, default_builtins  # noqa: E402
from tests.test_matcher_bindings import assert_replay_matches_advance, first_refused  # noqa: E402

UNDEFINED = [
    "def f():\n    return y\n",
    "def f(x=f):\n    pass\n",
    "def f(x: x):\n    pass\n",
    "def f(x):\n    return lambda y=y: x\n",
    "class C:\n    a = 1\n\n    def m(self):\n        return a\n",
    "class C:\n    x = C\n",
    "xs = [i for i in range(3)]\nprint(i)\n",
    "xs = [x for x in x]\n",
    "try:\n    pass\nexcept Exception as e:\n    pass\nprint(e)\n",
    "x = 1\ndel x\nprint(x)\n",
    "x: int\nprint(x)\n",
    "from m import a as b\nprint(a)\n",
    "x = x\n",
    "import a.b\nprint(b)\n",
    "def f():\n    global x\n    del x, x\n",
]
# compile() errors rather than pyflakes reports
NO_BINDING = [
    "x = 1\n\ndef f():\n    x += 1\n",  # UnboundLocalError (pyflakes: F823 only when x is read first)
    "def f():\n    def g():\n        nonlocal x\n",
    "x = 1\n\ndef f():\n    nonlocal x\n",
    "def f():\n    global x\n\n    def g():\n        nonlocal x\n",
    "def f():\n    del y\n",
    "x = 1\nmatch x:\n    case [r, r.a]:\n        pass\n",  # a capture binds once the whole pattern matched
]
DEFINED = [
    "def f(x, y=len):\n    return f(x) + y\n",
    "x = 1\n\ndef f():\n    return x\n",
    "def f():\n    x = 1\n\n    def g():\n        nonlocal x\n        x += 1\n    return g\n",
    "class C:\n    a = 1\n    b = a\n\n    def m(self):\n        return self\n",
    "try:\n    pass\nexcept Exception as e:\n    print(e)\n",
    "xs = [i for i in range(3) if i]\nys = [(i, j) for i in xs for j in range(i)]\n",
    "from m import *\nprint(anything)\n",
    "import os.path as p\nprint(p)\n",
    "import os.path\nprint(os.sep)\n",  # binds the head
    "import xml.etree.ElementTree\nxml.etree\n",
    "from m import a as b\nprint(b)\n",
    "x = 1\nx += 1\ndel x\n",
    "def f():\n    global g\n    g = 1\n    return g\n",
    "with open(__file__) as f:\n    f.read()\n",
    "g = lambda x, y=print: x(y)\n",
    "for i in range(3):\n    print(i)\nprint(i)\n",
    "def f(y):\n    x: int = y\n    return x\n",
    "x = 1\nmatch x:\n    case [r, 1] if r:\n        print(r)\n    case {**q}:\n        print(q)\n",
]


@pytest.mark.parametrize("source", UNDEFINED)
def test_undefined_names_are_refused(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert undefined_names(source), "the case must be one pyflakes reports"
    assert first_refused(codec, compiled, source) is not None


@pytest.mark.parametrize("source", NO_BINDING)
def test_names_without_the_binding_they_need_are_refused(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert first_refused(codec, compiled, source) is not None


@pytest.mark.parametrize("source", DEFINED)
def test_visible_names_are_allowed(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert not undefined_names(source)
    compile(source, "<case>", "exec")
    assert first_refused(codec, compiled, source) is None


@pytest.mark.parametrize("source", DEFINED + UNDEFINED[:4])
def test_replay_keeps_lookup_state_like_advance(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    assert_replay_matches_advance(codec, compiled, source, 7)


def test_a_load_spells_only_candidates(codec: Codec, compiled: CompiledGrammar) -> None:
    """At the start of the argument of `print(value)` after `value = 1`, the pieces allowed are those
    that begin `value` or a builtin, and `<end>` is refused until a whole candidate is spelled."""
    vocab = compiled.vocab
    m = Matcher(compiled, 1)
    loads = 0
    for a in codec.encode("value = 1\nprint(value)\n"):
        if compiled.symbol_names[int(m.top[0])] == "name_load@0":
            loads += 1
            if loads == 2:  # print's argument
                break
        m.advance(torch.tensor([a]))
    allowed = m.mask()[0].nonzero().flatten().tolist()
    first = {vocab.pieces[a - vocab.piece_base] for a in allowed if a >= vocab.piece_base}
    names = [b"value", *(n.encode() for n in default_builtins())]
    assert first and all(any(n.startswith(p) for n in names) for p in first)
    assert END not in allowed


def test_seeded_names_become_candidates(compiled: CompiledGrammar, codec: Codec) -> None:
    """A module-level name bound after a hole (seeded by the decoder) may be read in a function."""
    source = "def f():\n    return LIMIT\n"
    assert first_refused(codec, compiled, source) is not None
    ids = codec.encode(source)
    m = Matcher(compiled, 1)
    bound = compiled.set_index("bound")
    m.seed([[SeedEntry(bound, compiled.name_hash(b"LIMIT"), m.spell("LIMIT"), module=True)]])
    for a in ids:
        assert bool(m.mask()[0, a]), compiled.action_name(a)
        m.advance(torch.tensor([a]))
    assert not bool(m.error.any())


@pytest.mark.parametrize("source", ["x: int = 0\nx &= 1\n", "(x): int = 0\nx &= 1\n"])
def test_a_declined_annotation_value_binds_nothing(codec: Codec, compiled: CompiledGrammar, source: str) -> None:
    """Strict sampling may take an annotated assignment's full variant and then decline its optional
    value (`<stop>`): that is `x: int`, which binds nothing, so a later `x &= 1` must be refused."""
    ids = codec.encode(source)
    names = [compiled.action_name(a) for a in ids]
    value = names.index("Int")
    declined = ids[:value] + [STOP] + ids[value + 3 :]
    assert "AnnAssign" in names[value - 6] and names[value + 3].startswith("AugAssign")
    m = Matcher(compiled, 1)
    refused = None
    for i, a in enumerate(declined):
        if not bool(m.mask()[0, a]):
            refused = i
            break
        m.advance(torch.tensor([a]))
    assert refused == value + 2  # the augmented target's first piece
    assert first_refused(codec, compiled, source) is None  # with its value it binds
    fast = Matcher.replayed(compiled, [declined[: value + 2]])
    slow = Matcher(compiled, 1, config=MatcherConfig(host_rows=0))
    for a in declined[: value + 2]:
        slow.advance(torch.tensor([a]))
    for name in ("ent_alive", "ent_wait", "ent_set"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name
