"""A tree-state model (astgen.features) decodes with the same state inputs training lays out for the
filled program, and its checkpoint round-trips with the state embedding."""

from __future__ import annotations

from pathlib import Path

import pytest

from astgen.codec import Codec
from astgen.features import STATE_FILE, document_states, n_state_ids, special_state_ids
from astgen.grammar.compiled import CompiledGrammar

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.codec.holes import holed_program  # noqa: E402
from astgen.decoding import DecodeConfig  # noqa: E402
from astgen.generator import Generator  # noqa: E402
from astgen.model import ModelConfig, build_model, load_checkpoint, save_checkpoint, state_embedding  # noqa: E402
from astgen.stepping import KVStepper, LeanStepper  # noqa: E402

SOURCE = "import os\n\ndef join_all(parts, sep=os.sep):\n    out = []\n    ...\n    return sep.join(out)\n"


@pytest.fixture(scope="module")
def state_checkpoint(tmp_path_factory: pytest.TempPathFactory, compiled: CompiledGrammar) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(1)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    folder = tmp_path_factory.mktemp("states") / "ckpt"
    save_checkpoint(build_model(cfg), cfg, folder, compiled)
    save_file({"weight": torch.randn(n_state_ids(compiled), 32)}, str(folder / STATE_FILE))
    return folder


def test_checkpoint_round_trip_keeps_the_state_embedding(
    state_checkpoint: Path, compiled: CompiledGrammar, tmp_path: Path
) -> None:
    model, cfg = load_checkpoint(state_checkpoint, compiled)
    emb = state_embedding(model)
    assert emb is not None and emb.weight.shape == (n_state_ids(compiled), 32)
    assert not any("state" in k for k in model.state_dict())  # users' save_pretrained sees the plain LM
    save_checkpoint(model, cfg, tmp_path / "again", compiled)
    again, _ = load_checkpoint(tmp_path / "again", compiled)
    assert torch.equal(state_embedding(again).weight, emb.weight)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "transformers"])
def test_decoder_feeds_the_states_training_lays_out(
    state_checkpoint: Path, compiled: CompiledGrammar, codec: Codec, monkeypatch: pytest.MonkeyPatch, lean: bool
) -> None:
    model, cfg = load_checkpoint(state_checkpoint, compiled)
    gen = Generator(model, cfg, compiled, codec)
    fed: list[tuple[list[int], list[int]]] = []
    stepper = LeanStepper if lean else KVStepper
    original = stepper.feed

    def spy(self, chunks, states=None):  # type: ignore[no-untyped-def]
        assert states is not None
        fed.append((list(chunks[0]), list(states[0])))
        return original(self, chunks, states)

    monkeypatch.setattr(stepper, "feed", spy)
    program = holed_program(codec, SOURCE, cfg.hole_id)
    dcfg = DecodeConfig(max_actions=24, temperature=0.0, lean=lean)
    [[answer]] = gen.fill([program], dcfg)
    tokens = [t for chunk, _ in fed for t in chunk]
    states = [s for _, chunk in fed for s in chunk]
    assert len(tokens) == len(states)
    task = program.task(0, [], dcfg.context, dcfg.max_actions, cfg.bos_id, cfg.sep_id)
    assert task.window_start == 0
    full = list(program.filled([answer]))
    doc = document_states(compiled, full).tolist()
    start, end = len(task.prefix), len(task.prefix) + len(answer)
    sp = special_state_ids(compiled)
    want = [sp["bos"], *doc[:start], sp["hole"], *doc[end:], sp["sep"], *doc[start:end]]
    # the decoder feeds the prompt, then each action before the model call that needs it (the last
    # actions of the fill are never fed)
    assert len(task.prompt) < len(states) <= len(want)
    assert states == want[: len(states)]
    assert tokens == [*task.prompt, *answer][: len(tokens)]
