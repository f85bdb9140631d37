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


def test_bits_per_char_split_by_position_kind_sums_to_the_total(tiny_generator, codec: Codec) -> None:  # type: ignore[no-untyped-def]
    """training.evaluate.score_documents: the split by what each position spells adds up to the total,
    and each kind gets the positions it should (names read, literals, ends all occur in the source)."""
    import numpy as np

    from training.evaluate import POSITION_KINDS, score_documents

    source = "import os\n\n\ndef f(path, n=3):\n    s = os.path.join(path, 'x')\n    return s * n\n"
    actions = codec.encode(source)
    stream = np.array(actions, dtype=np.uint16)
    info = {"documents": [{"offset": 0, "length": len(actions), "chars": len(source)}]}
    r = score_documents(tiny_generator, stream, info, info["documents"], 64)
    by = r["val_bpc_by"]
    assert tuple(by) == POSITION_KINDS
    assert abs(sum(by.values()) - r["val_bpc"]) < 1e-6
    assert all(v > 0 for v in by.values()), by
