"""The torch Matcher follows the compiled automaton exactly, keeps every sample completable,
and enforces the symbol-set constraints that no finite grammar can."""

from __future__ import annotations

import ast

import pytest
import torch

from astgen.codec import Codec
from astgen.grammar.actions import CLOSE, END, EOS
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import replay
from astgen.matcher import Matcher, MatcherConfig
from astgen.sampling import sample_uniform

SOURCES = [
    "import os\n\nasync def f(a, b=1, *c, d, **e):\n    '''doc'''\n    for i in range(a):\n        if i:\n            break\n    return [x async for x in y] if False else {k: v for k, v in e.items()}\n",
    "class C:\n    x: int = 1\n    def m(self):\n        global g\n        with open(f'{self!r:>4}') as fh:\n            yield from fh\n",
    "match cmd:\n    case [x, *rest] if rest:\n        pass\n    case {'a': 1, **kw}:\n        pass\n    case Point(x=0) | Point(y=0):\n        pass\n",
    "try:\n    pass\nexcept* ValueError as e:\n    raise\nlambda q, /, r=2: (yield)\n",
    # a keyword scope opened inside a list element: the second class may reuse `metaclass`
    "class A(metaclass=M):\n    pass\nclass B(metaclass=M):\n    pass\n",
]


def teacher_force(compiled: CompiledGrammar, rows: list[list[int]], strict: bool = False) -> Matcher:
    """Advance a batch through `rows` (padded with <eos>), checking each action is allowed."""
    m = Matcher(compiled, len(rows), config=MatcherConfig(strict=strict))
    width = max(map(len, rows))
    padded = torch.tensor([r + [EOS] * (width - len(r)) for r in rows])
    expected = [replay(compiled, r).tops + [0] * (width - len(r)) for r in rows]
    for t in range(width):
        assert m.top.tolist() == [e[t] for e in expected], f"step {t}"
        mask = m.mask()
        assert bool(mask[torch.arange(len(rows)), padded[:, t]].all()), f"step {t}: a real action was masked"
        m.advance(padded[:, t])
    assert not bool(m.error.any())
    assert bool(m.done.all())
    return m


def test_teacher_forcing_matches_replay_and_allows_every_real_action(codec: Codec, compiled: CompiledGrammar) -> None:
    teacher_force(compiled, [codec.encode(s) for s in SOURCES])


def test_strict_mode_allows_strict_code(codec: Codec, compiled: CompiledGrammar) -> None:
    # nothing lenient here (no nonlocal, irrefutable case patterns or literal mapping keys)
    teacher_force(compiled, [codec.encode("def f(a, *, b):\n    global q\n    return f(a, b=b)\n")], strict=True)


def test_invalid_action_sets_error_and_keeps_state(compiled: CompiledGrammar) -> None:
    m = Matcher(compiled, 2)
    before = m.stack.clone()
    m.advance(torch.tensor([END, EOS]))  # neither is allowed at the start symbol
    assert m.error.tolist() == [True, True]
    assert torch.equal(m.stack, before)


def test_fork_and_reset(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode("x = 1\n")
    m = Matcher(compiled, 1)
    for a in ids[:3]:
        m.advance(torch.tensor([a]))
    f = m.fork([0, 0, 0])
    assert f.batch_size == 3 and torch.equal(f.top, m.top.repeat(3))
    for a in ids[3:]:
        f.advance(torch.tensor([a] * 3))
    assert bool(f.done.all()) and not bool(m.done.any())
    m.reset()
    assert int(m.top) == compiled.start_symbol and int(m.steps) == 0


def test_forced_reports_single_allowed_action(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode("def f():\n    pass\n")
    m = Matcher(compiled, 1)
    seen_forced = []
    for a in ids:
        is_forced, action = m.forced()
        if bool(is_forced):
            seen_forced.append(int(action))
            assert int(action) == a
        m.advance(torch.tensor([a]))
    assert CLOSE in seen_forced and EOS in seen_forced


def _spell(m: Matcher, compiled: CompiledGrammar, text: bytes) -> None:
    base = compiled.vocab.piece_base
    for b in text:
        m.advance(torch.tensor([base + compiled.vocab.pieces.index(bytes([b]))]))


def _at_terminal(codec: Codec, compiled: CompiledGrammar, source: str, symbol: str, occurrence: int) -> Matcher:
    """A matcher advanced through `source` up to where its `occurrence`-th `symbol` terminal starts."""
    ids = codec.encode(source)
    tops = replay(compiled, ids).tops
    start = [i for i, t in enumerate(tops) if compiled.symbol_names[t] == symbol][occurrence]
    m = Matcher(compiled, 1)
    for a in ids[:start]:
        m.advance(torch.tensor([a]))
    return m


def test_duplicate_parameter_name_cannot_end(codec: Codec, compiled: CompiledGrammar) -> None:
    m = _at_terminal(codec, compiled, "def f(abc, abd):\n    pass\n", "name_param@0", 1)
    _spell(m, compiled, b"abc")  # the first parameter's name again
    assert not bool(m.mask()[0, END]), "a repeated parameter name must not be allowed to end"
    _spell(m, compiled, b"d")
    assert bool(m.mask()[0, END])


def test_duplicate_keyword_argument_cannot_end(codec: Codec, compiled: CompiledGrammar) -> None:
    m = _at_terminal(codec, compiled, "f(key=1, kez=2)\n", "name_kw@0", 1)
    _spell(m, compiled, b"key")
    assert not bool(m.mask()[0, END])


def test_nested_call_keywords_are_a_separate_scope(codec: Codec, compiled: CompiledGrammar) -> None:
    m = _at_terminal(codec, compiled, "f(key=g(kez=1), kex=2)\n", "name_kw@0", 1)
    _spell(m, compiled, b"key")  # same name as the outer call's keyword: fine in the inner call
    assert bool(m.mask()[0, END])


@pytest.mark.parametrize("max_actions", [40, 120, 400])
def test_every_sample_completes_within_budget(compiled: CompiledGrammar, codec: Codec, max_actions: int) -> None:
    for ids in sample_uniform(compiled, 16, seed=max_actions, max_actions=max_actions):
        assert ids[-1] == EOS and len(ids) <= max_actions
        compile(ast.parse(codec.decode(ids)), "<sample>", "exec")


def test_tree_depth_budget_bounds_nesting(compiled: CompiledGrammar, codec: Codec) -> None:
    cfg = MatcherConfig(max_actions=600, max_tree_depth=12, max_terminal_pieces=2)
    for ids in sample_uniform(compiled, 16, seed=3, config=cfg, max_actions=600):
        tree = ast.parse(codec.decode(ids))

        def depth(n: ast.AST) -> int:
            return 1 + max((depth(c) for c in ast.iter_child_nodes(n)), default=0)

        assert depth(tree) <= 2 * 12 + 2


def test_elif_chains_are_not_nested_blocks(codec: Codec, compiled: CompiledGrammar) -> None:
    """CPython counts loops/try/with towards its 20 nested blocks, not if/elif."""
    src = "from m import *\nif a:\n    pass\n" + "".join(f"elif x{i}:\n    pass\n" for i in range(30))
    ids = codec.encode(src)
    m = Matcher(compiled, 1, config=MatcherConfig(strict=True, max_blocks=4))
    for a in ids:
        assert bool(m.mask()[0, a])
        m.advance(torch.tensor([a]))
    assert not bool(m.error.any())


def test_over_budget_the_mask_keeps_only_the_cheapest_completions(codec, compiled) -> None:  # type: ignore[no-untyped-def]
    """A duplicate keyword's `<end>` is refused, so the name needs one more piece than the budget counted:
    the mask then allows only the cheapest ways on (a piece, then `<end>`), never unbounded spelling."""
    from astgen.grammar.actions import END

    ids = codec.encode("f(a=1, a_b=2)\n")
    names = [compiled.action_name(a) for a in ids]
    cut = [i for i, n in enumerate(names) if n == "b'a'"][1] + 1  # after the second keyword's `a`
    m = Matcher(compiled, 1)
    for a in ids[:cut]:
        m.advance(torch.tensor([a]))
    m.set_limit(m.steps + m.remaining)  # no room for anything beyond the shortest completion
    mask = m.mask()[0]
    assert not mask[END]  # `a` again would be a duplicate keyword argument
    assert mask[m.n_struct :].any() and not mask[: m.n_struct].any()
    m.advance(torch.tensor([ids[cut]]))  # `_b`
    mask = m.mask()[0]
    assert mask[END] and not mask[m.n_struct :].any()
