"""The lean inference forward (astgen.lean): the transformers model's logits on ragged batches, the
same decoded programs, and a fallback wherever it would not run the model's own code."""

from __future__ import annotations

import random

import pytest

from astgen.codec import Codec
from astgen.grammar.compiled import CompiledGrammar

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.codec.holes import holed_program  # noqa: E402
from astgen.decoding import DecodeConfig  # noqa: E402
from astgen.generator import Generator, default_checkpoint  # noqa: E402
from astgen.lean import LeanLlama, lean_of  # noqa: E402
from astgen.model import ModelConfig, build_model, load_checkpoint  # noqa: E402
from astgen.stepping import KVStepper, LeanStepper, make_stepper  # noqa: E402
from tests.conftest import stdlib_sample  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.fixture(scope="module")
def shipped(compiled: CompiledGrammar):  # type: ignore[no-untyped-def]
    return load_checkpoint(default_checkpoint(), compiled)


def _random_feeds(n_actions: int, bos: int, batch: int, steps: int, seed: int) -> list[list[list[int]]]:
    """Ragged chunks per step (a row may get nothing), a prompt first: how the decoders feed a stepper."""
    rng = random.Random(seed)
    feeds = [[[bos] + [rng.randrange(n_actions) for _ in range(rng.randrange(1, 40))] for _ in range(batch)]]
    for _ in range(steps):
        step = [[rng.randrange(n_actions) for _ in range(rng.choice([0, 1, 1, 1, 2, 5]))] for _ in range(batch)]
        if not any(step):  # (a decoder calls the model only when some row has a token to feed)
            step[0].append(rng.randrange(n_actions))
        feeds.append(step)
    return feeds


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("batch", "seed"), [(1, 0), (3, 1), (8, 2)])
def test_lean_logits_equal_the_transformers_forward(shipped, device: str, batch: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    model, cfg = shipped
    model = model.to(device)
    ref, lean = KVStepper(model, batch, cfg.pad_id), make_stepper(model, batch, cfg.pad_id)
    assert isinstance(lean, LeanStepper)
    rng = random.Random(seed)
    for chunks in _random_feeds(cfg.n_actions, cfg.bos_id, batch, 40, seed):
        states = [[rng.randrange(100) for _ in c] for c in chunks]
        a, b = ref.feed(chunks, states), lean.feed(chunks, states)
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), (a - b).abs().max()
    model.to("cpu")


@pytest.mark.parametrize("seed", [3, 4])
def test_retired_rows_leave_the_cache_and_the_others_keep_their_logits(shipped, seed: int) -> None:  # type: ignore[no-untyped-def]
    """Rows retired one by one (finished holes): the cache shrinks to the rows still fed, and their
    logits stay those of a stepper that keeps every row; a retired row keeps its last logits."""
    model, cfg = shipped
    batch = 8
    full, lean = make_stepper(model, batch, cfg.pad_id), make_stepper(model, batch, cfg.pad_id)
    assert isinstance(lean, LeanStepper)
    rng = random.Random(seed)
    retired: set[int] = set()
    for step, chunks in enumerate(_random_feeds(cfg.n_actions, cfg.bos_id, batch, 30, seed)):
        chunks = [[] if r in retired else c for r, c in enumerate(chunks)]
        if not any(chunks):
            break
        states = [[rng.randrange(100) for _ in c] for c in chunks]
        a, b = full.feed(chunks, states), lean.feed(chunks, states)
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5), (step, (a - b).abs().max())
        if step % 3 == 2 and len(retired) < batch - 1:
            gone = rng.choice([r for r in range(batch) if r not in retired])
            retired.add(gone)
            lean.retire([gone])
    assert lean.cache.batch < batch and len(lean.held) == lean.cache.batch
    with pytest.raises(ValueError, match="retired"):
        lean.feed([[1] if r == min(retired) else [] for r in range(batch)], [[0]] * batch)


def test_the_cache_grows_past_its_first_size(shipped) -> None:  # type: ignore[no-untyped-def]
    model, cfg = shipped
    ref, lean = KVStepper(model, 2, cfg.pad_id), make_stepper(model, 2, cfg.pad_id)
    first = lean.cache.capacity  # type: ignore[union-attr]
    for _ in range(3):
        chunks = [[5] * 150, [7] * 90]
        states = [[1] * 150, [2] * 90]
        assert torch.allclose(ref.feed(chunks, states), lean.feed(chunks, states), atol=1e-4, rtol=1e-4)
    assert lean.cache.capacity > first  # type: ignore[union-attr]


def test_lean_copy_follows_weight_changes_and_refuses_other_code(compiled: CompiledGrammar) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    model = build_model(cfg).eval()
    first = lean_of(model)
    assert first is not None and lean_of(model) is first  # cached
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)  # in place: the copy is stale
    second = lean_of(model)
    assert second is not first and torch.equal(second.head, model.lm_head.weight)  # type: ignore[union-attr]
    ids = [[cfg.bos_id, 4, 9, 11]]
    assert torch.allclose(
        KVStepper(model, 1, cfg.pad_id).feed(ids), LeanStepper(second, 1, cfg.pad_id).feed(ids), atol=1e-5
    )  # type: ignore[arg-type]
    hook = model.model.layers[0].register_forward_hook(lambda *a: None)
    assert lean_of(model) is None and isinstance(make_stepper(model, 1, cfg.pad_id), KVStepper)
    hook.remove()
    model.lm_head = torch.nn.Sequential(model.lm_head)  # another head: its own code must run
    assert lean_of(model) is None
    with pytest.raises(ValueError, match="no transformers forward"):
        make_stepper(second, 1, cfg.pad_id, lean=False)


@pytest.mark.parametrize("path", stdlib_sample(4, seed=5), ids=lambda p: p.name)
def test_decoding_is_identical_on_every_path(shipped, compiled: CompiledGrammar, codec: Codec, path) -> None:  # type: ignore[no-untyped-def]
    """Greedy fills of real holes: lean or transformers forward, host or batched matcher, batch 1 or
    all together — the same actions."""
    model, cfg = shipped
    gen = Generator(model, cfg, compiled, codec)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    rng = random.Random(path.name)
    programs = []
    while len(programs) < 3:  # a statement line cut to `...`
        i = rng.randrange(len(lines))
        stripped = lines[i].strip()
        if not stripped or stripped.startswith(
            ("#", "@", "def ", "class ", "else", "elif", "except", "finally", "try")
        ):
            continue
        if stripped.endswith((":", ",", "(", "[", "{", "\\")) or '"""' in stripped or "'''" in stripped:
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        holed = "".join([*lines[:i], indent + "...\n", *lines[i + 1 :]])
        try:
            programs.append(holed_program(codec, holed, cfg.hole_id, str(path)))
        except Exception:  # a line inside a multi-line construct: not a clean statement hole
            continue
    outs = []
    for lean, host_rows, batch in [(False, 0, 3), (True, 16, 3), (True, 0, 3), (True, 16, 1), (False, 16, 1)]:
        gen.batch_size = batch
        outs.append(gen.fill(programs, DecodeConfig(max_actions=40, lean=lean, host_rows=host_rows)))
    assert all(o == outs[0] for o in outs[1:])


def test_a_lean_model_reports_its_device_and_vocabulary(shipped) -> None:  # type: ignore[no-untyped-def]
    from astgen.stepping import model_device, model_vocab_size

    model, cfg = shipped
    lean = lean_of(model)
    assert isinstance(lean, LeanLlama)
    assert model_device(lean) == torch.device("cpu") and model_vocab_size(lean) == cfg.vocab_size == model_vocab_size(
        model
    )
