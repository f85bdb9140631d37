"""`Matcher.replayed` (scalar host replay) reaches exactly the state of stepping `advance`."""

from __future__ import annotations

import random

import pytest

from astgen.codec import Codec
from astgen.errors import GrammarError
from astgen.grammar.compiled import CompiledGrammar
from tests.conftest import stdlib_sample

torch = pytest.importorskip("torch")

from astgen.matcher import Matcher, MatcherConfig  # noqa: E402

BATCHED = MatcherConfig(host_rows=0)  # every advance through the batched tensor ops


@pytest.mark.parametrize("path", stdlib_sample(3, seed=11), ids=lambda p: p.name)
def test_replayed_state_equals_stepwise_advance(path, codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)
    cuts = sorted(rng.randrange(len(ids)) % 1500 for _ in range(3))
    fast = Matcher.replayed(compiled, [ids[:c] for c in cuts])
    slow = Matcher(compiled, len(cuts), config=BATCHED)
    for t in range(max(cuts)):
        step = torch.tensor([ids[t] if t < c else 0 for c in cuts])
        before = slow.fork(list(range(len(cuts))))
        slow.advance(step)
        for row, c in enumerate(cuts):  # rows past their cut keep their state
            if t >= c:
                for name in Matcher._STATE:
                    getattr(slow, name)[row] = getattr(before, name)[row]
    for name in Matcher._STATE:
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name
    assert not bool(fast.error.any())


def test_replayed_rejects_an_invalid_prefix(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode("x = 1\n")
    with pytest.raises(GrammarError, match="not allowed"):
        Matcher.replayed(compiled, [[ids[0], ids[0]]])


@pytest.mark.parametrize("path", stdlib_sample(3, seed=12), ids=lambda p: p.name)
@pytest.mark.parametrize("rows", [1, 3])
def test_host_advance_equals_batched_advance_step_by_step(
    path, codec: Codec, compiled: CompiledGrammar, rows: int
) -> None:
    """A small CPU batch advances row by row on the host; after every step its state equals the
    batched tensor path's (each row a different real file position, lookups and budgets on)."""
    ids = codec.encode(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)
    starts = [rng.randrange(max(1, len(ids) - 400)) for _ in range(rows)]
    host = Matcher.replayed(compiled, [ids[:s] for s in starts], config=MatcherConfig(max_actions=5000))
    batched = Matcher.replayed(compiled, [ids[:s] for s in starts], config=MatcherConfig(max_actions=5000, host_rows=0))
    for m in (host, batched):
        m.set_limit(m.steps + 5000)
    for t in range(min(300, len(ids) - max(starts))):
        step = torch.tensor([ids[s + t] for s in starts])
        assert torch.equal(host.mask(), batched.mask())
        host.advance(step)
        batched.advance(step)
        for name in Matcher._STATE:
            assert torch.equal(getattr(host, name), getattr(batched, name)), (name, t)
    assert not bool(host.error.any())


@pytest.mark.parametrize("path", stdlib_sample(3, seed=13), ids=lambda p: p.name)
@pytest.mark.parametrize("slack", [0, 3, 40])
def test_host_mask_equals_batched_mask_sampling_under_a_tight_budget(
    path, codec: Codec, compiled: CompiledGrammar, slack: int
) -> None:
    """Free generation from real file positions with a budget of the shortest completion plus `slack`
    (0: only the cheapest completions; the over-budget fallback): the host mask of every step equals
    the batched one, lookups on, through the end of each tree."""
    ids = codec.encode(path.read_text(encoding="utf-8"))
    rng = random.Random(f"{path.name}/{slack}")
    starts = [rng.randrange(len(ids)) for _ in range(2)]
    host = Matcher.replayed(compiled, [ids[:s] for s in starts])
    batched = Matcher.replayed(compiled, [ids[:s] for s in starts], config=BATCHED)
    for m in (host, batched):
        m.set_limit(m.steps + m.remaining + slack)
    gen = torch.Generator().manual_seed(rng.randrange(1 << 30))
    for t in range(400):
        want = batched.mask()
        assert torch.equal(host.mask(), want), t
        step = torch.multinomial(want.float(), 1, generator=gen).squeeze(1)
        step = torch.where(batched.done, torch.zeros_like(step), step)
        host.advance(step)
        batched.advance(step)
        if bool(batched.done.all()):
            break
    assert bool(batched.done.all()), "the budget ends every tree"
    assert not bool(host.error.any())


def test_host_advance_flags_a_refused_action_and_keeps_the_row(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode("x = 1\ny = 2\n")
    m = Matcher.replayed(compiled, [ids[:3], ids[:3]])
    before = m.fork([0, 1])
    m.advance(torch.tensor([ids[0], ids[3]]))  # row 0: a module's first action again (refused)
    assert m.error.tolist() == [True, False]
    for name in Matcher._STATE:
        if name not in ("error", "steps"):
            assert torch.equal(getattr(m, name)[0], getattr(before, name)[0]), name
    assert m.steps.tolist() == [4, 4]


def test_the_host_walk_grows_a_full_set_table(codec: Codec, compiled: CompiledGrammar) -> None:
    source = "".join(f"name_{i} = {i}\n" for i in range(12)) + "def f(a, b):\n    c = a + b\n    return c\n"
    ids = codec.encode(source)
    small = Matcher.replayed(compiled, [ids[:-4]], config=MatcherConfig(set_capacity=4))
    roomy = Matcher.replayed(compiled, [ids[:-4]])
    assert small.ent_alive.shape[1] > 4 and not bool(small.error.any())

    def entries(m: Matcher) -> list[tuple[int, ...]]:
        alive = m.ent_alive[0]
        cols = (m.ent_hash[0], m.ent_set[0], m.ent_tag[0], m.ent_len[0])
        return sorted(zip(*(c[alive].tolist() for c in cols)))

    assert entries(small) == entries(roomy) and len(entries(roomy)) >= 14
