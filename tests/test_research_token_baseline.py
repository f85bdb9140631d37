"""The token-level baseline: tokenizer layout, FIM batches, checkpoints and constrained decoding."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from astgen.errors import CheckpointError
from astgen.model import ModelConfig, build_model
from astgen.research.baseline import load_token_checkpoint, save_token_checkpoint
from astgen.research.token_decoding import TokenDecoder, top_level_end
from tests.token_helpers import Biased, small_tokenizer
from training.fim import FimConfig
from training.token_fim import TokenFimBatcher, sample_text_hole, text_spans

pytest.importorskip("llguidance")

FILES = ["textwrap.py", "shlex.py", "fnmatch.py", "colorsys.py", "bisect.py", "keyword.py"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], object, Path]:
    folder = tmp_path_factory.mktemp("tok")
    texts, tok = small_tokenizer(folder, FILES)
    tok.save(str(folder / "tokenizer.json"))
    return texts, tok, folder / "tokenizer.json"


def _config(vocab: int) -> ModelConfig:
    return ModelConfig(n_actions=vocab - 4, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)


def test_tokenizer_layout_mirrors_the_action_vocabulary(corpus) -> None:
    texts, tok, _ = corpus
    config = _config(tok.get_vocab_size())
    assert tok.token_to_id("<eot>") == config.eos_id == 0
    for name, want in (("<pad>", config.pad_id), ("<bos>", config.bos_id), ("<hole>", config.hole_id)):
        assert tok.token_to_id(name) == want
    assert tok.token_to_id("<sep>") == config.sep_id == config.vocab_size - 1
    for t in texts:
        assert tok.decode(tok.encode(t).ids) == t  # byte-level BPE is lossless


def test_text_spans_are_syntax_nodes(corpus) -> None:
    texts, _, _ = corpus
    for text in texts:
        spans = text_spans(text)
        assert spans.exprs and spans.stmts and (bool(spans.bodies) == ("\ndef " in "\n" + text or "    def " in text))
        for s, e in spans.exprs[::7]:
            fragment = text[s:e]
            try:
                ast.parse("(" + fragment + ")", mode="eval")
            except SyntaxError:  # slices are expression nodes too
                ast.parse("x[" + fragment + "]", mode="eval")
        for s, e, _ in spans.stmts[::5]:
            column = s - (text.rfind("\n", 0, s) + 1)
            fragment = textwrap.dedent(" " * column + text[s:e])
            if fragment.startswith("elif "):  # an `elif` is the one statement of the `else` list, as in the AST
                fragment = "if 0:\n    pass\n" + fragment
            ast.parse(fragment)


def test_fim_batches_are_deterministic_and_well_formed(corpus) -> None:
    texts, tok, _ = corpus
    config = _config(tok.get_vocab_size())
    ids = [np.asarray([*tok.encode(t).ids, 0], dtype=np.uint16) for t in texts]
    stream = np.concatenate(ids)
    offsets = np.cumsum([0] + [len(x) for x in ids])
    info = {"documents": [{"offset": int(o), "length": len(x)} for o, x in zip(offsets, ids)]}
    special = {"bos": config.bos_id, "hole": config.hole_id, "sep": config.sep_id, "pad": config.pad_id, "eot": 0}
    make = lambda: TokenFimBatcher(stream, info, texts, tok, 128, 8, special, 7, FimConfig(rate=1.0, max_hole=64))  # noqa: E731
    tokens, labels = make().batch(3)
    again, _ = make().batch(3)
    assert torch.equal(tokens, again)
    fim_rows = 0
    for row, lab in zip(tokens.tolist(), labels.tolist()):
        assert row[0] == config.bos_id
        if row.count(config.hole_id) == 1:
            fim_rows += 1
            first_sep = row.index(config.sep_id)
            assert row.index(config.hole_id) < first_sep
            assert config.sep_id in row[first_sep + 1 :]  # the middle ends with <sep>
        n = sum(1 for t in row if t != config.pad_id)
        assert all(x == -100 for x in lab[n:])
    assert fim_rows >= 4


def test_sampled_holes_follow_the_kind(corpus) -> None:
    texts, _, _ = corpus
    rng = np.random.default_rng(0)
    spans = text_spans(texts[0])
    cfg = FimConfig()
    for kind in range(4):
        cut = sample_text_hole(spans, rng, cfg, kind=kind)
        assert cut is not None and cut[0] < cut[1]


def test_token_checkpoint_round_trip(corpus, tmp_path: Path) -> None:
    _, tok, tok_file = corpus
    config = _config(tok.get_vocab_size())
    torch.manual_seed(0)
    model = build_model(config)
    save_token_checkpoint(model, config, tok_file, tmp_path / "ckpt")
    loaded, cfg2, tok2 = load_token_checkpoint(tmp_path / "ckpt")
    assert cfg2 == config and tok2.get_vocab_size() == tok.get_vocab_size()
    x = torch.tensor([[config.bos_id, 5, 6, 7]])
    assert torch.allclose(model.eval()(input_ids=x).logits, loaded(input_ids=x).logits)
    with pytest.raises(CheckpointError):
        load_token_checkpoint(tmp_path)


def _eager_model(tok: object) -> tuple[torch.nn.Module, ModelConfig]:
    """A random model that always wants to stop: the grammar decides how long the output is."""
    config = _config(tok.get_vocab_size())  # type: ignore[attr-defined]
    torch.manual_seed(0)
    model = build_model(config).eval()
    bias = torch.zeros(config.vocab_size)
    bias[config.sep_id] = 8.0
    model.lm_head = Biased(model.lm_head, bias)
    return model, config


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grammar_constrained_samples_parse(corpus, seed: int) -> None:
    _, tok, _ = corpus
    model, config = _eager_model(tok)
    dec = TokenDecoder(model, config, tok, batch_size=4)
    prompt = [config.bos_id, *dec.encode("x = 1\ny = "), config.hole_id, config.sep_id]
    rows = dec.generate([prompt] * 4, 40, config.sep_id, temperature=1.0, seed=seed, grammars=["expr"] * 4)
    finished = 0
    for ids in rows:
        text = dec.decode(ids)
        if len(ids) < 40:  # ended by the model's choice of <sep>, which the grammar allows only when complete
            finished += 1
            ast.parse(text, mode="eval")
    assert finished >= 1
    assert dec.stats.mask_seconds > 0


def test_free_decoding_has_no_such_guarantee(corpus) -> None:
    _, tok, _ = corpus
    model, config = _eager_model(tok)  # prefers <sep> from the first step
    dec = TokenDecoder(model, config, tok, batch_size=2)
    prompt = [config.bos_id, *dec.encode("y = "), config.hole_id, config.sep_id]
    [free] = dec.generate([prompt], 10, config.sep_id, temperature=0.0)
    [constrained] = dec.generate([prompt], 10, config.sep_id, temperature=0.0, grammars=["expr"])
    assert free == []  # an empty expression: invalid code
    assert constrained != []


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("def f():\n    return 1\nx = 2", 21),
        ("def f():\n    pass", 17),
        ("def f():\n    if x:\n        y\n\ndef g", 29),
    ],
)
def test_top_level_end(text: str, end: int) -> None:
    assert top_level_end(text) == end
