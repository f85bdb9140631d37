"""The grammar text format: parsing, flag expansion, guards, includes and errors with line numbers."""

from __future__ import annotations

import pytest

from astgen.errors import GrammarError
from astgen.grammar import load
from astgen.grammar.dsl import parse_grammar

SMALL = """
flags a b
set s
terminal name identifier pieces=name distinct=s
start top[+a]
nonterminal top(a b)
  Top(items: item*, flag: leaf[+b]?)
nonterminal item(a)
  include leaf
  Pair(x: item, y: item) @scope=s
nonterminal leaf(a b)
  Leaf_{X,Y}()
  OnlyA(n: name) if a & !b
  OnlyB() if b @lenient
"""


def test_expansion_instantiates_only_reachable_flag_sets() -> None:
    g = parse_grammar(SMALL, "toy")
    names = {nt.name for nt in g.nonterminals}
    assert g.start == "top[a]"
    # leaf[a] is only included into item[a], never referenced, so it is not a symbol of its own
    assert names == {"top[a]", "item[a]", "leaf[a,b]"}


def test_guards_braces_and_includes() -> None:
    g = parse_grammar(SMALL, "toy")
    ab = g.nonterminal("leaf[a,b]")
    assert [c.name for c in ab.constructors] == ["Leaf_X", "Leaf_Y", "OnlyB"]
    assert ab.constructor("OnlyB").lenient  # type: ignore[union-attr]
    item = g.nonterminal("item[a]")
    assert [c.name for c in item.constructors] == ["Leaf_X", "Leaf_Y", "OnlyA", "Pair"]
    assert item.constructor("Pair").scopes == ("s",)  # type: ignore[union-attr]


def test_plus_is_one_then_star() -> None:
    g = parse_grammar("flags\nstart r\nnonterminal r()\n  R(xs: r+)\n  E()\n", "toy")
    (field,) = g.nonterminal("r").constructor("R").fields  # type: ignore[union-attr]
    assert [(s.symbol, s.quant) for s in field.segments] == [("r", "1"), ("r", "*")]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("flags a\nstart x\nnonterminal x(a)\n  X(y: nope)\n", "unknown symbol 'nope'"),
        ("flags a\nstart x\nnonterminal x(q)\n  X()\n", "line 3: unknown flag 'q'"),
        ("flags a\nstart x\nnonterminal x(a)\n  X() if zz\n", "line 4: unknown flag 'zz'"),
        ("flags a\nstart x\nnonterminal x(a)\n  X()\n  X()\n", "ambiguous"),
        ("flags a\nstart x[+a]\nnonterminal x(a)\n  X() if !a\n", "no constructors"),
        ("flags\nnonterminal x()\n  X()\n", "no `start`"),
        ("flags\nstart x\nbogus line\n", "line 3: unknown directive"),
        ("flags\nstart x\nnonterminal x()\n  X() @scope=nope\n", "unknown set"),
        ("flags\nstart x\nnonterminal x()\n  X(y: x) @defer=z\n", "line 4: @defer names unknown field 'z'"),
        ("flags\nset s defers=t\nstart x\n", "line 2: set s: unknown deferred set 't'"),
        ("flags\nset s\nset t scope=s defers=s\n", "line 3: set t: takes scope= or defers="),
        ("flags\nset s\nset t defers=s\nset u defers=s\n", "line 4: set u: only one set may defer 's'"),
        ("flags\nterminal n identifier scope=inner\n", "line 2: terminal scope= takes `outer`"),
        ("flags\nset s lookup=everywhere\n", "line 2: set s: lookup= takes one of chain, alive"),
        ("flags\nterminal n identifier lookup=far\n", "line 2: terminal lookup= takes one of load, local"),
        ("flags\nstart x\nnonterminal x()\n  X(y: x) @defer=y:later\n", "line 4: @defer=FIELD or @defer=FIELD:begin"),
        ("flags\nterminal n identifier\nstart x\nnonterminal x()\n  X(y: x?) @bare=y:n\n", "@bare needs @elide"),
        ("flags\nstart x\nnonterminal x()\n  X(y: x?) @elide=y @bare=z:n\n", "@bare takes FIELD:TERMINAL"),
        ("flags\nstart x\nnonterminal x()\n  X(y: x?) @elide=y @bare=y:n\n", "@bare names unknown terminal 'n'"),
    ],
)
def test_malformed_grammar_raises_grammar_error(text: str, needle: str) -> None:
    with pytest.raises(GrammarError, match=needle):
        parse_grammar(text, "bad")


def test_defer_field_and_deferring_set() -> None:
    text = (
        "flags\nset s\nset p defers=s\nterminal n identifier pieces=name add=s scope=outer\nstart x\n"
        "nonterminal x()\n  X(a: n, b: x?) @elide=b @defer=b\n"
    )
    g = parse_grammar(text, "toy")
    assert g.set_defers == ("", "s") and g.scope_sets == ("s", "s")
    x = g.nonterminal("x")
    assert [(c.name, c.defer) for c in x.constructors] == [("X", "b"), ("X-b", "")]  # no field after b
    assert g.terminal("n").outer


def test_an_elided_defer_field_passes_to_the_next_field() -> None:
    """`match_case`: captures take effect where the guard begins, or the body when there is none."""
    text = "flags\nset s\nstart x\nnonterminal x()\n  X(a: x?, b: x?, c: x?) @elide=b @defer=b:begin\n"
    x = parse_grammar(text, "toy").nonterminal("x")
    assert [(c.name, c.defer, c.defer_begin) for c in x.constructors] == [("X", "b", True), ("X-b", "c", True)]


def test_python_grammar_is_deterministic_and_hashed() -> None:
    g = load("python")
    assert (
        g.content_hash
        == parse_grammar(
            __import__("astgen.grammar", fromlist=["grammar_text"]).grammar_text("python"), "python"
        ).content_hash
    )
    assert len(g.constructor_names) > 100
    # every constructor of every instance has a unique name within its nonterminal
    for nt in g.nonterminals:
        names = [c.name for c in nt.constructors]
        assert len(names) == len(set(names)), nt.name


def test_unknown_language_is_a_grammar_error() -> None:
    with pytest.raises(GrammarError, match="no grammar"):
        load("cobol")
