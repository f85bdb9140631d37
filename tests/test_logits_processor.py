"""`model.generate()` from transformers with astgen's LogitsProcessor only produces valid programs."""

from __future__ import annotations

import pytest

from astgen.codec import Codec
from astgen.grammar.compiled import CompiledGrammar
from astgen.validity import check_source

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from astgen.logits_processor import GrammarLogitsProcessor  # noqa: E402
from astgen.model import ModelConfig, build_model  # noqa: E402


@pytest.fixture(scope="module")
def model_and_config(compiled: CompiledGrammar):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    return build_model(cfg).eval(), cfg


def _programs(out: torch.Tensor, cfg: ModelConfig, skip: int) -> list[list[int]]:
    rows = []
    for row in out.tolist():
        actions = row[skip:]
        assert cfg.eos_id in actions, "every sequence must finish within max_new_tokens"
        rows.append(actions[: actions.index(cfg.eos_id) + 1])
    return rows


@pytest.mark.parametrize("do_sample", [True, False])
def test_generate_with_the_processor_gives_valid_programs(model_and_config, compiled, codec: Codec, do_sample) -> None:  # type: ignore[no-untyped-def]
    model, cfg = model_and_config
    proc = GrammarLogitsProcessor(compiled, cfg, max_actions=120)
    torch.manual_seed(1)
    out = model.generate(
        input_ids=torch.full((6, 1), cfg.bos_id),
        logits_processor=transformers.LogitsProcessorList([proc]),
        max_new_tokens=130,
        do_sample=do_sample,
        eos_token_id=cfg.eos_id,
        pad_token_id=cfg.pad_id,
    )
    for actions in _programs(out, cfg, 1):
        assert len(actions) <= 120
        v = check_source(codec.decode(actions))
        assert v.parses and v.compiles


def test_reset_and_a_prompt(model_and_config, compiled, codec: Codec) -> None:  # type: ignore[no-untyped-def]
    model, cfg = model_and_config
    proc = GrammarLogitsProcessor(compiled, cfg, max_actions=80)
    prefix = codec.encode("import os\nx = 1\n")[:-3]  # cut inside the module's statement list
    prompt = torch.tensor([[cfg.bos_id, *prefix]] * 2)
    for _ in range(2):  # the second call after reset() starts from the prompt again
        proc.reset()
        out = model.generate(
            input_ids=prompt,
            logits_processor=transformers.LogitsProcessorList([proc]),
            max_new_tokens=90,
            do_sample=True,
            eos_token_id=cfg.eos_id,
            pad_token_id=cfg.pad_id,
        )
        for row in out.tolist():
            actions = row[1:]
            actions = actions[: actions.index(cfg.eos_id) + 1]
            source = codec.decode(actions)
            assert source.startswith("import os\nx = 1") and check_source(source).compiles


@pytest.mark.parametrize("second", ["shorter", "different", "other_batch"])
def test_reuse_without_reset_starts_over(model_and_config, compiled, codec: Codec, second: str) -> None:  # type: ignore[no-untyped-def]
    """A processor used again without reset() must not advance a stale matcher (undecodable output):
    it sees ids that do not extend its last ones and replays the new prompt."""
    model, cfg = model_and_config
    proc = GrammarLogitsProcessor(compiled, cfg, max_actions=80)
    prefix = codec.encode("import os\nx = 1\n")[:-3]
    first = torch.tensor([[cfg.bos_id, *prefix]] * 2)
    prompts = {
        "shorter": torch.tensor([[cfg.bos_id]] * 2),
        "different": torch.tensor([[cfg.bos_id, *codec.encode("y = 2\nz = 3\n")[:-3]]] * 2),
        "other_batch": torch.tensor([[cfg.bos_id]] * 3),
    }
    kw = dict(max_new_tokens=90, do_sample=True, eos_token_id=cfg.eos_id, pad_token_id=cfg.pad_id)
    torch.manual_seed(2)
    model.generate(input_ids=first, logits_processor=transformers.LogitsProcessorList([proc]), **kw)
    prompt = prompts[second]
    out = model.generate(input_ids=prompt, logits_processor=transformers.LogitsProcessorList([proc]), **kw)
    for actions in _programs(out, cfg, 1):
        source = codec.decode(actions)
        assert check_source(source).compiles
        if second == "different":
            assert source.startswith("y = 2\nz = 3")
