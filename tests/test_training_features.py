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


def test_reference_batches_keep_the_draws_and_fit(codec: Codec, compiled: CompiledGrammar) -> None:
    """With name references the same examples are drawn (holes and answers alike), compressed, and
    each still fits its window; the batcher refuses references without the stream's states."""
    from astgen.codec.refs import NameRefs

    stream, info, spans = _doc_with_spans(codec, SOURCE * 3)
    states = document_states(compiled, stream.tolist())
    ids = {**IDS, "bos": compiled.n_actions + 1, "hole": compiled.n_actions + 2, "sep": compiled.n_actions + 3}
    ids["pad"] = compiled.n_actions
    sids = special_state_ids(compiled)
    refs = NameRefs.for_model(compiled, compiled.n_actions + 4, 16)
    fim = FimConfig(rate=0.5, max_hole=32)
    plain = MixedBatcher(stream, info, spans, 64, 8, ids, 0, fim, states=states, state_ids=sids)
    packed = MixedBatcher(stream, info, spans, 64, 8, ids, 0, fim, states=states, state_ids=sids, refs=refs)
    for step in range(3):
        a, _, _ = plain.batch_with_states(step)
        b, labels, feats = packed.batch_with_states(step)
        assert b.shape == a.shape and feats is not None
        assert int((b >= refs.ref_base).sum()) > 0 and int(b.max()) < refs.ref_base + refs.slots
        for special in ("hole", "sep"):
            assert torch.equal((a == ids[special]).sum(1), (b == ids[special]).sum(1))
    with pytest.raises(ValueError, match="tree states"):
        MixedBatcher(stream, info, spans, 64, 8, ids, 0, fim, refs=refs)


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


@pytest.mark.parametrize("name_refs", [0, 8], ids=["spelled", "references"])
def test_bits_per_char_split_by_position_kind_sums_to_the_total(
    tiny_generator, codec: Codec, compiled: CompiledGrammar, name_refs: int
) -> None:  # type: ignore[no-untyped-def]
    """training.evaluate.score_documents: the split by what each position spells adds up to the total,
    and each kind gets the positions it should (names read, literals, ends all occur in the source;
    references only where the model has them)."""
    import numpy as np

    from astgen.generator import Generator
    from astgen.model import ModelConfig, build_model
    from training.evaluate import POSITION_KINDS, score_documents
    from training.train import REFERENCE_KIND

    gen = tiny_generator
    if name_refs:
        torch.manual_seed(0)
        cfg = ModelConfig.for_grammar(
            compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, name_refs=name_refs
        )
        gen = Generator(build_model(cfg).eval(), cfg, compiled, codec)
    source = "import os\n\n\ndef f(path, n=3):\n    s = os.path.join(path, 'x')\n    return s * n\n"
    actions = codec.encode(source)
    stream = np.array(actions, dtype=np.uint16)
    info = {"documents": [{"offset": 0, "length": len(actions), "chars": len(source)}]}
    r = score_documents(gen, stream, info, info["documents"], 64)
    by = r["val_bpc_by"]
    assert tuple(by) == POSITION_KINDS
    assert abs(sum(by.values()) - r["val_bpc"]) < 1e-6
    assert all(v > 0 for k, v in by.items() if k != REFERENCE_KIND), by
    assert (by[REFERENCE_KIND] > 0) == bool(name_refs)
    # every action is scored once: fewer positions with references, never more
    assert r["val_actions"] <= len(actions) and (r["val_actions"] < len(actions)) == bool(name_refs)
