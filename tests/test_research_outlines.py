"""The outlines decoding mode of the token baseline: outlines' CFG through its public API, on a tiny model."""

from __future__ import annotations

import ast

import pytest
import torch

from astgen.model import ModelConfig, build_model
from astgen.research.cases import compiles
from astgen.research.python_lark import python_grammar
from astgen.research.token_decoding import TokenDecoder
from tests.token_helpers import Biased, small_tokenizer

pytest.importorskip("llguidance")
pytest.importorskip("outlines")

from astgen.research.token_outlines import OutlinesDecoder, continuation_grammar  # noqa: E402

FILES = ["fnmatch.py", "colorsys.py", "bisect.py", "keyword.py"]


@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> object:
    return small_tokenizer(tmp_path_factory.mktemp("tok"), FILES)[1]


def _decoder(tok: object, eager: bool = True) -> TokenDecoder:
    """A random one-layer model; `eager`: it prefers both end tokens, so the grammar decides the length."""
    n_actions = tok.get_vocab_size() - 4  # type: ignore[attr-defined]
    config = ModelConfig(n_actions=n_actions, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    torch.manual_seed(0)
    model = build_model(config).eval()
    if eager:
        bias = torch.zeros(config.vocab_size)
        bias[config.sep_id] = bias[0] = 8.0
        model.lm_head = Biased(model.lm_head, bias)
    return TokenDecoder(model, config, tok, batch_size=4)


@pytest.fixture(scope="module")
def eager(tok: object) -> TokenDecoder:
    return _decoder(tok)


def _infill(dec: TokenDecoder, prefix: str, suffix: str = "\n") -> list[int]:
    c = dec.config
    return [c.bos_id, *dec.encode(prefix), c.hole_id, *dec.encode(suffix), 0, c.sep_id]


def test_continuation_grammar_is_the_rule_after_its_head(eager: TokenDecoder) -> None:
    import llguidance
    import llguidance.hf
    from transformers import PreTrainedTokenizerFast

    assert continuation_grammar("expr") == python_grammar("expr")
    grammar = continuation_grammar("funcdef_0", "def")
    assert grammar.startswith('start: " " NAME "("') and grammar.endswith(python_grammar("funcdef_0").split("\n", 1)[1])
    hf = PreTrainedTokenizerFast(tokenizer_object=eager.tokenizer, eos_token="<eot>", pad_token="<pad>")
    m = llguidance.LLMatcher(llguidance.hf.from_tokenizer(hf), llguidance.LLMatcher.grammar_from_lark(grammar))
    assert not m.is_error()
    assert m.consume_tokens(eager.encode(" f(x):\n    return x + 1")) and m.is_accepting()
    with pytest.raises(NotImplementedError):
        continuation_grammar("expr", "lambda")


@pytest.mark.parametrize("seed", [0, 1])
def test_infill_rows_parse_and_end_on_sep(eager: TokenDecoder, seed: int) -> None:
    od = OutlinesDecoder(eager)
    c = eager.config
    prompts = [_infill(eager, "x = 1\ny = ")] * 3 + [_infill(eager, "def f(a):\n    ", "\n    return a\n")] * 3
    starts = ["expr"] * 3 + ["stmts_1"] * 3
    rows = od.generate(prompts, starts, 40, c.sep_id, temperature=1.0, seed=seed)
    assert len(rows) == 6
    finished = 0
    for ids, start in zip(rows, starts):
        assert c.sep_id not in ids and not {0, c.pad_id, c.bos_id, c.hole_id} & set(ids)
        if len(ids) < 40:  # ended by <sep>, which the grammar allows only where the answer is complete
            finished += 1
            text = eager.decode(ids)
            if start == "expr":
                ast.parse(text, mode="eval")
            else:
                assert compiles("def f(a):\n    " + text + "\n    return a\n")
    assert finished >= 3
    s = od.stats
    assert s.rows == 6 and s.tokens == sum(len(r) for r in rows)
    assert s.model_calls >= 2 and s.row_calls >= s.tokens + finished  # each row's end takes a call too
    assert s.seconds > 0 and s.mask_seconds > od.setup_seconds > 0
    assert od.prompts == 6 and od.prompt_mismatches == 0
    assert len(od._generators) == 2  # one grammar per start rule, one batch each


def test_greedy_outlines_matches_direct_llguidance(tok: object) -> None:
    dec = _decoder(tok, eager=False)
    od = OutlinesDecoder(dec)
    prompts = [_infill(dec, "y = "), _infill(dec, "print("), _infill(dec, "z = [1, ")]
    starts = ["expr", "arg", "expr"]
    direct = dec.generate(prompts, 12, dec.config.sep_id, temperature=0.0, grammars=starts)
    assert od.generate(prompts, starts, 12, dec.config.sep_id, temperature=0.0) == direct


def test_functions_after_a_forced_head_end_on_eot(tok: object) -> None:
    dec = _decoder(tok)
    for text in ("(", ")", ":", "x"):  # short names and empty signatures: functions complete within 48 tokens
        [t] = dec.encode(text)
        dec.model.lm_head.bias[t] = 6.0
    od = OutlinesDecoder(dec)
    head = dec.encode("def")
    prompt = [dec.config.bos_id, *head]
    rows = od.generate([prompt] * 4, ["funcdef_0"] * 4, 48, 0, temperature=1.0, seed=0, forced=[head] * 4)
    ended = [ids for ids in rows if len(ids) < 48]
    assert len(ended) >= 2
    for ids in rows:
        assert 0 not in ids and dec.config.sep_id not in ids
    for ids in ended:  # <eot> only where the function is complete
        assert compiles("def" + dec.decode(ids))
    assert od.stats.tokens == sum(len(r) for r in rows) and od.stats.dead_ends == 0
