"""The model config, the vocabulary layout and checkpoints (tiny models, CPU, seeded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.errors import AstgenError, CheckpointMismatchError  # noqa: E402
from astgen.grammar.compiled import CompiledGrammar  # noqa: E402
from astgen.model import (  # noqa: E402
    CheckpointError,
    ModelConfig,
    build_model,
    load_checkpoint,
    save_checkpoint,
)

TINY = {"hidden_size": 32, "n_layers": 1, "n_heads": 2, "intermediate_size": 64, "max_positions": 64}


@pytest.fixture()
def tiny(compiled: CompiledGrammar) -> ModelConfig:
    return ModelConfig.for_grammar(compiled, **TINY)


@pytest.fixture()
def saved(tmp_path: Path, tiny: ModelConfig, compiled: CompiledGrammar) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(build_model(tiny), tiny, tmp_path / "ckpt", compiled)


def test_config_json_round_trip(tmp_path: Path, tiny: ModelConfig) -> None:
    assert ModelConfig.from_json(tiny.to_json()) == tiny
    tiny.save(tmp_path / "model_config.json")
    assert ModelConfig.load(tmp_path / "model_config.json") == tiny
    assert json.loads(tiny.to_json())["n_actions"] == tiny.n_actions


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown model config field"):
        ModelConfig.from_dict({"n_actions": 10, "hidden": 3})
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(n_actions=10, hidden_size=30, n_heads=4)
    with pytest.raises(ValueError, match="positive integer"):
        ModelConfig(n_actions=0)
    with pytest.raises(ValueError, match="uint16"):
        ModelConfig(n_actions=70000)


def test_vocab_layout_puts_model_tokens_after_the_actions(tiny: ModelConfig, compiled: CompiledGrammar) -> None:
    a = compiled.n_actions
    assert tiny.n_actions == a
    assert (tiny.eos_id, tiny.pad_id, tiny.bos_id, tiny.hole_id, tiny.sep_id) == (0, a, a + 1, a + 2, a + 3)
    assert tiny.vocab_size == a + 4
    assert tiny.token_name(0, compiled.vocab) == "<eos>"
    assert [tiny.token_name(a + i) for i in range(4)] == ["<pad>", "<bos>", "<hole>", "<sep>"]
    with pytest.raises(ValueError):
        tiny.token_name(a + 4)


def test_forward_shape(tiny: ModelConfig) -> None:
    torch.manual_seed(0)
    model = build_model(tiny)
    assert model.config.vocab_size == tiny.vocab_size
    assert (model.config.pad_token_id, model.config.bos_token_id, model.config.eos_token_id) == (
        tiny.pad_id,
        tiny.bos_id,
        0,
    )
    tokens = torch.randint(0, tiny.vocab_size, (2, 7))
    logits = model(input_ids=tokens).logits
    assert logits.shape == (2, 7, tiny.vocab_size)


def test_default_size_is_a_few_million_parameters(compiled: CompiledGrammar) -> None:
    with torch.device("meta"):
        model = build_model(ModelConfig.for_grammar(compiled))
    n = sum(p.numel() for p in model.parameters())
    assert 4e6 < n < 8e6


def test_save_load_round_trip(saved: Path, tiny: ModelConfig, compiled: CompiledGrammar) -> None:
    names = {p.name for p in saved.iterdir()}
    assert {"config.json", "model.safetensors", "astgen.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)  # never pickle
    info = json.loads((saved / "astgen.json").read_text())
    assert info["grammar_hash"] == compiled.grammar_hash
    assert info["compiled_hash"] == compiled.content_hash
    assert info["n_actions"] == compiled.n_actions

    torch.manual_seed(0)
    original = build_model(tiny).eval()
    model, config = load_checkpoint(saved, compiled)
    assert config == tiny
    assert not model.training
    tokens = torch.randint(0, tiny.vocab_size, (1, 9))
    with torch.no_grad():
        assert torch.equal(model(input_ids=tokens).logits, original(input_ids=tokens).logits)


def test_tied_embeddings_round_trip(tmp_path: Path, compiled: CompiledGrammar) -> None:
    config = ModelConfig.for_grammar(compiled, tie_embeddings=True, **TINY)
    torch.manual_seed(0)
    save_checkpoint(build_model(config), config, tmp_path / "tied", compiled)
    model, _ = load_checkpoint(tmp_path / "tied", compiled)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def _edit_info(folder: Path, **changes: object) -> None:
    info = json.loads((folder / "astgen.json").read_text())
    info.update(changes)
    (folder / "astgen.json").write_text(json.dumps(info))


def test_grammar_mismatch_is_refused(saved: Path, compiled: CompiledGrammar) -> None:
    _edit_info(saved, grammar_hash="0123456789abcdef")
    with pytest.raises(CheckpointMismatchError, match="0123456789abcdef"):
        load_checkpoint(saved, compiled)


def test_vocabulary_mismatch_is_refused(saved: Path, compiled: CompiledGrammar) -> None:
    _edit_info(saved, vocab_hash="ffffffffffffffff")
    with pytest.raises(CheckpointMismatchError, match="action vocabulary"):
        load_checkpoint(saved, compiled)


def test_missing_or_damaged_checkpoints_are_clear_errors(
    tmp_path: Path, saved: Path, compiled: CompiledGrammar
) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere", compiled)
    (saved / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(saved, compiled)
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(saved, compiled)
    (saved / "astgen.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(saved, compiled)
    (saved / "astgen.json").unlink()
    with pytest.raises(CheckpointError, match="not an astgen checkpoint"):
        load_checkpoint(saved, compiled)
    assert issubclass(CheckpointError, AstgenError)
