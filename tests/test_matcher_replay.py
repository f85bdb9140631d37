"""`Matcher.replayed` (scalar host replay) reaches exactly the state of stepping `advance`."""

from __future__ import annotations

import random

import pytest

from astgen.codec import Codec
from astgen.errors import GrammarError
from astgen.grammar.compiled import CompiledGrammar
from tests.conftest import stdlib_sample

torch = pytest.importorskip("torch")

from astgen.matcher import Matcher  # noqa: E402


@pytest.mark.parametrize("path", stdlib_sample(3, seed=11), ids=lambda p: p.name)
def test_replayed_state_equals_stepwise_advance(path, codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode(path.read_text(encoding="utf-8"))
    rng = random.Random(path.name)
    cuts = sorted(rng.randrange(len(ids)) % 1500 for _ in range(3))
    fast = Matcher.replayed(compiled, [ids[:c] for c in cuts])
    slow = Matcher(compiled, len(cuts))
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
