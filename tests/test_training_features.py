"""Tree-position features (training.tree_features): laid out exactly like the actions they describe,
computed from the actions so far, and read by the model without leaking the future."""

from __future__ import annotations

import numpy as np
import pytest

from astgen.codec import Codec
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.replay import replay
from tests.test_training_fim import IDS, SOURCE, _doc_with_spans

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.features import document_states, n_state_ids, special_state_ids  # noqa: E402
from astgen.model import ModelConfig, build_model  # noqa: E402
from training.fim import FimConfig, MixedBatcher  # noqa: E402
from training.tree_features import StateFeatureLM  # noqa: E402


def test_features_follow_windows_and_fim_layouts(codec: Codec) -> None:
    """With the actions themselves as their 'states', every row's features equal its tokens."""
    stream, info, spans = _doc_with_spans(codec, SOURCE)
    stream = np.concatenate([stream] * 4)
    fim = FimConfig(rate=0.5, max_hole=32)
    batcher = MixedBatcher(stream, info, spans, 64, 8, IDS, 0, fim, states=stream.copy(), state_ids=IDS)
    tokens, labels, feats = batcher.batch_with_states(3)
    assert feats is not None
    plain_tokens, plain_labels = MixedBatcher(stream, info, spans, 64, 8, IDS, 0, fim).batch(3)
    assert torch.equal(tokens, plain_tokens) and torch.equal(labels, plain_labels)  # the same draws
    real = tokens != IDS["pad"]
    assert torch.equal(feats[real], tokens[real])
    assert any(IDS["hole"] in r for r in tokens.tolist())


def test_document_states_are_the_state_after_each_action(codec: Codec, compiled: CompiledGrammar) -> None:
    ids = codec.encode(SOURCE)
    states = document_states(compiled, ids)
    tops = replay(compiled, ids).tops
    for i in range(len(ids) - 1):
        t = tops[i + 1]
        want = t if t < compiled.dfa_base else compiled.dfa_base + int(compiled.arrays["sym_term"][t])
        assert int(states[i]) == want
    assert int(states[-1]) == compiled.start_symbol
    assert int(states.max()) < min(special_state_ids(compiled).values()) < n_state_ids(compiled)


def test_state_features_do_not_leak_the_future() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(n_actions=50, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_positions=64)
    model = StateFeatureLM(build_model(cfg), 20).eval()
    ids = torch.randint(0, 50, (1, 12))
    states = torch.randint(0, 20, (1, 12))
    changed = states.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 20
    a = model(input_ids=ids, states=states).logits
    b = model(input_ids=ids, states=changed).logits
    assert torch.allclose(a[0, :8], b[0, :8]) and not torch.allclose(a[0, 8:], b[0, 8:])
