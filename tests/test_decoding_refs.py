"""A model with name references (astgen.codec.refs) decodes with the tokens training lays out: the
prompt compressed with the same table, each reference fed once its name is spelled, and every fill a
valid program whatever the model prefers (here: references, as often as allowed)."""

from __future__ import annotations

import ast

import pytest

from astgen.codec import Codec
from astgen.features import context_states, document_states, special_state_ids
from astgen.grammar.compiled import CompiledGrammar

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.codec.holes import holed_program  # noqa: E402
from astgen.decoding import DecodeConfig  # noqa: E402
from astgen.generator import Generator  # noqa: E402
from astgen.model import ModelConfig, build_model  # noqa: E402
from astgen.stepping import KVStepper, LeanStepper  # noqa: E402

SOURCES = [
    "import os\n\ndef join_all(parts, sep=os.sep):\n    out = []\n    ...\n    return sep.join(out)\n",
    "class Box:\n    def __init__(self, width, height):\n        self.width = width\n        ...\n",
    "def total(items, key):\n    seen = {}\n    for item in items:\n        ...\n    return seen\n",
]


@pytest.fixture(scope="module")
def ref_generator(compiled: CompiledGrammar, codec: Codec) -> Generator:
    torch.manual_seed(2)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, name_refs=8)
    return Generator(build_model(cfg).eval(), cfg, compiled, codec)


@pytest.fixture(scope="module")
def ref_state_generator(compiled: CompiledGrammar, codec: Codec) -> Generator:
    """A reference model that also reads tree states (as the shipped one does)."""
    from astgen.features import n_state_ids
    from astgen.model import attach_state_embedding

    torch.manual_seed(3)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, name_refs=8)
    model = build_model(cfg).eval()
    attach_state_embedding(model, torch.randn(n_state_ids(compiled), 32))
    return Generator(model, cfg, compiled, codec)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "transformers"])
def test_reference_states_are_those_training_lays_out(
    ref_state_generator: Generator, compiled: CompiledGrammar, codec: Codec, monkeypatch: pytest.MonkeyPatch,
    lean: bool,
) -> None:  # fmt: skip
    """A reference is fed with the state after its name's `<end>`, as `NameRefs.compress` keeps it."""
    gen, cfg = ref_state_generator, ref_state_generator.config
    refs = gen.refs
    assert refs is not None
    fed: list[tuple[int, int]] = []
    stepper = LeanStepper if lean else KVStepper
    original = stepper.feed

    def favour_refs(self, chunks, states=None):  # type: ignore[no-untyped-def]
        assert states is not None
        fed.extend(zip(chunks[0], states[0]))
        original(self, chunks, states)
        self.logits[:, cfg.ref_base :] += 50.0
        self.logits[:, compiled.vocab.ctor_id("Name")] += 25.0

    monkeypatch.setattr(stepper, "feed", favour_refs)
    program = holed_program(codec, SOURCES[0], cfg.hole_id)
    dcfg = DecodeConfig(max_actions=40, temperature=0.0, lean=lean)
    before = gen.stats.references
    [[answer]] = gen.fill([program], dcfg)
    assert gen.stats.references > before
    full = list(program.filled([answer]))
    task = program.task(0, [], dcfg.context, dcfg.max_actions, cfg.bos_id, cfg.sep_id)
    start, end = len(task.prefix), len(task.prefix) + len(answer)
    doc = document_states(compiled, full).tolist()
    sp = special_state_ids(compiled)
    tokens = [cfg.bos_id, *full[:start], cfg.hole_id, *full[end:], cfg.sep_id, *full[start:end]]
    states = [sp["bos"], *doc[:start], sp["hole"], *doc[end:], sp["sep"], *doc[start:end]]
    want = refs.compress(tokens, states)
    assert fed == list(zip(want.tokens, want.states))[: len(fed)]


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "transformers"])
@pytest.mark.parametrize("source", SOURCES, ids=["join_all", "box", "total"])
def test_references_are_fed_as_training_lays_them_out(
    ref_generator: Generator, compiled: CompiledGrammar, codec: Codec, monkeypatch: pytest.MonkeyPatch,
    lean: bool, source: str,
) -> None:  # fmt: skip
    gen, cfg = ref_generator, ref_generator.config
    refs = gen.refs
    assert refs is not None
    fed: list[int] = []
    stepper = LeanStepper if lean else KVStepper
    original = stepper.feed

    def favour_refs(self, chunks, states=None):  # type: ignore[no-untyped-def]
        fed.extend(chunks[0])
        original(self, chunks, states)
        self.logits[:, cfg.ref_base :] += 50.0  # prefer any allowed reference
        self.logits[:, compiled.vocab.ctor_id("Name")] += 25.0  # and expressions that are names

    monkeypatch.setattr(stepper, "feed", favour_refs)
    program = holed_program(codec, source, cfg.hole_id)
    before = gen.stats.references
    dcfg = DecodeConfig(max_actions=40, temperature=0.0, lean=lean)
    [[answer]] = gen.fill([program], dcfg)
    assert gen.stats.references > before  # references were chosen ...
    full = list(program.filled([answer]))
    code = codec.decode(full)
    compile(ast.parse(code), "<fill>", "exec")  # ... and the program is valid
    # what the model was fed is the compressed training layout of the filled program
    task = program.task(0, [], dcfg.context, dcfg.max_actions, cfg.bos_id, cfg.sep_id)
    start, end = len(task.prefix), len(task.prefix) + len(answer)
    doc = document_states(compiled, full).tolist()
    sp = special_state_ids(compiled)
    tokens = [cfg.bos_id, *full[:start], cfg.hole_id, *full[end:], cfg.sep_id, *full[start:end]]
    states = [sp["bos"], *doc[:start], sp["hole"], *doc[end:], sp["sep"], *doc[start:end]]
    want = refs.compress(tokens, states).tokens
    assert fed == want[: len(fed)]
    assert len(want) - len(fed) <= 3  # the fill's last tokens are never fed (no call needs them)


def test_a_reference_the_grammar_refuses_is_never_taken(
    ref_generator: Generator, codec: Codec, compiled: CompiledGrammar, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict lookups: a name read must be visible.  The model prefers most a reference to `value_a`, a
    parameter of another function whose first piece `value` (visible) also starts: the decoder checks
    the whole name, refuses it, and the fill reads no undefined name."""
    from astgen.matcher import Matcher

    gen, cfg = ref_generator, ref_generator.config
    refs = gen.refs
    assert refs is not None
    source = "def f(value_a, value_b):\n    return value_a\n\ndef g(value):\n    return ...\n"
    program = holed_program(codec, source, cfg.hole_id)
    dcfg = DecodeConfig(max_actions=24, temperature=0.0)
    task = program.task(0, [], dcfg.context, dcfg.max_actions, cfg.bos_id, cfg.sep_id)
    spell = Matcher(compiled, 1).spell
    states = [special_state_ids(compiled)["bos"], *context_states(compiled, task.prompt[1:-1], cfg.hole_id), 0]
    table = refs.compress(task.prompt, states).table
    wanted = table.slot(tuple(compiled.vocab.piece_base + p for p in spell("value_a")))
    assert wanted >= 0 and spell("value")[0] == spell("value_a")[0]
    original = LeanStepper.feed

    def favour(self, chunks, states=None):  # type: ignore[no-untyped-def]
        original(self, chunks, states)
        self.logits[:, cfg.ref_base :] += 50.0
        self.logits[:, cfg.ref_base + wanted] += 30.0
        self.logits[:, compiled.vocab.ctor_id("Name")] += 25.0

    monkeypatch.setattr(LeanStepper, "feed", favour)
    before, refused = gen.stats.references, gen.stats.references_refused
    [[answer]] = gen.fill([program], dcfg)
    assert gen.stats.references > before and gen.stats.references_refused > refused
    body = ast.parse(codec.decode(list(program.filled([answer])))).body[1]
    names = {n.id for n in ast.walk(body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert names and not names & {"value_a", "value_b"}
