"""Decoding holes with a (tiny, random, seeded) model: validity, untouched code outside holes,
batching and forced-action prefill change nothing but speed, budgets and typed errors."""

from __future__ import annotations

import ast

import pytest

from astgen.codec import Codec
from astgen.errors import NoHoleError, SourceSyntaxError
from astgen.grammar.compiled import CompiledGrammar

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from astgen.codec.holes import holed_program  # noqa: E402
from astgen.decoding import DecodeConfig, DecodeStats  # noqa: E402
from astgen.generator import Generator  # noqa: E402
from astgen.model import ModelConfig, build_model  # noqa: E402

SOURCES = [
    "def f(a):\n    ...\n",
    "x = [1, ..., 3]\nprint(x)\n",
    "import os\n\nclass A:\n\n    def m(self, q):\n        return q + ...\n    ...\n",
    "for i in range(3):\n    ...\nelse:\n    y = ...\n",
    "async def g(s):\n    async with s as t:\n        ...\n    return await t(...)\n",
    "@decorate(...)\ndef h(*, k=...):\n    '''doc'''\n    ...\n",
]


@pytest.fixture(scope="module")
def gen(compiled: CompiledGrammar, codec: Codec) -> Generator:
    torch.manual_seed(0)
    cfg = ModelConfig.for_grammar(compiled, hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64)
    return Generator(build_model(cfg).eval(), cfg, compiled, codec)


def _masked_dump(source: str, filled: str) -> tuple[str, str]:
    """Dumps of `source` and `filled` with the nodes standing in the holes of `source` blanked in both."""
    orig, new = ast.parse(source), ast.parse(filled)
    return _strip(orig), _strip(new, like=orig)


def _is_hole(node: object) -> bool:
    if isinstance(node, ast.Expr):
        node = node.value
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _strip(tree: ast.Module, like: ast.Module | None = None) -> str:
    """Dump with hole positions (per `like`, else per `tree` itself) replaced by a marker."""
    pattern = like or tree

    def walk(a: object, p: object) -> object:
        if _is_hole(p):
            return "HOLE"
        if isinstance(p, list):
            if any(_is_hole(x) for x in p):
                # a statement hole may become several statements: compare what surrounds it
                k = next(i for i, x in enumerate(p) if _is_hole(x))
                tail = len(p) - k - 1
                a_list = a if isinstance(a, list) else []
                head = [walk(x, y) for x, y in zip(a_list[:k], p[:k])]
                rest = [walk(x, y) for x, y in zip(a_list[len(a_list) - tail :], p[k + 1 :])] if tail else []
                return [*head, "HOLE", *rest]
            return [walk(x, y) for x, y in zip(a, p)] if isinstance(a, list) and len(a) == len(p) else ("LEN", a)
        if isinstance(p, ast.AST):
            if type(a) is not type(p):
                return ("TYPE", type(a).__name__)
            return (type(p).__name__, [(f, walk(getattr(a, f, None), getattr(p, f, None))) for f in p._fields])
        return a if a == p or like is None else ("VALUE", a)

    return repr(walk(tree, pattern))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_filled_sources_compile_and_keep_the_code_outside_holes(gen: Generator, temperature: float) -> None:
    filled = gen.infill_batch(SOURCES, temperature=temperature, seed=7, max_actions=40)
    for src, out in zip(SOURCES, filled):
        compile(out, "<filled>", "exec", dont_inherit=True)
        before, after = _masked_dump(src, out)
        assert before == after, out


def test_batched_equals_one_at_a_time(gen: Generator) -> None:
    one = [gen.infill(s, max_actions=20) for s in SOURCES[1:4]]
    assert gen.infill_batch(SOURCES[1:4], max_actions=20) == one


def test_forced_prefill_saves_calls_and_changes_nothing(
    gen: Generator, codec: Codec, compiled: CompiledGrammar
) -> None:
    programs = [holed_program(codec, s, gen.config.hole_id) for s in SOURCES]
    on, off = DecodeStats(), DecodeStats()
    gen.stats = on
    with_prefill = gen.fill(programs, DecodeConfig(max_actions=20, prefill_forced=True))
    gen.stats = off
    without = gen.fill(programs, DecodeConfig(max_actions=20, prefill_forced=False))
    assert with_prefill == without
    assert on.actions == off.actions and on.forced > 0
    assert on.model_calls < off.model_calls


def test_hole_kinds(gen: Generator, codec: Codec) -> None:
    program = holed_program(codec, SOURCES[2], gen.config.hole_id)
    assert program.kinds == ("expr", "list")
    out = gen.infill("y = ...\n", max_actions=20)
    tree = ast.parse(out)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)  # one expression, nothing more


def test_budget_bounds_each_hole(gen: Generator, codec: Codec) -> None:
    program = holed_program(codec, "def f():\n    ...\n", gen.config.hole_id)
    for budget in (5, 25):
        answers = gen.fill([program] * 4, DecodeConfig(temperature=1.0, seed=1, max_actions=budget))
        assert all(len(a[0]) <= budget + 3 for a in answers)  # 3 >= the shortest statement list


def test_generate_returns_functions(gen: Generator) -> None:
    outs = gen.generate("import os\n", n=3, seed=0, max_actions=40)
    assert len(outs) == 3
    for fn in outs:
        tree = ast.parse(fn)
        assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef)
        compile(fn, "<gen>", "exec", dont_inherit=True)


def test_sampling_is_seeded(gen: Generator) -> None:
    a = gen.infill(SOURCES[0], temperature=1.0, seed=3, max_actions=30)
    b = gen.infill(SOURCES[0], temperature=1.0, seed=3, max_actions=30)
    assert a == b


def test_bad_input_is_typed(gen: Generator) -> None:
    with pytest.raises(SourceSyntaxError) as e:
        gen.infill("def f(:\n    ...\n", filename="bad.py")
    assert e.value.lineno == 1 and e.value.col is not None and "bad.py:1:" in str(e.value)
    with pytest.raises(NoHoleError):
        gen.infill("x = 1\n")


REPEAT_SOURCES = [
    'import os\n\n\ndef read_lines(path, encoding="utf-8"):\n    with open(path, encoding=encoding) as f:\n        ...\n',
    "def parse_args(argv):\n    options = {}\n    for arg in argv:\n        ...\n    return options\n",
]


@pytest.fixture(scope="module")
def shipped(compiled: CompiledGrammar, codec: Codec) -> Generator:
    from astgen.generator import default_checkpoint
    from astgen.model import load_checkpoint

    model, cfg = load_checkpoint(default_checkpoint(), compiled)
    return Generator(model, cfg, compiled, codec)


@pytest.mark.parametrize("source", REPEAT_SOURCES)
def test_no_repeat_fills_repeat_fewer_statements(shipped: Generator, codec: Codec, source: str) -> None:
    """Without the sibling-copy penalty (so that `no_repeat` is measured alone) the shipped model's
    greedy statement fills repeat statements; with `no_repeat` fewer repeat (a copy is still written
    where the budget leaves no other choice), and the program compiles."""
    program = holed_program(codec, source, shipped.config.hole_id)
    copies = {}
    for no_repeat in (False, True):
        config = DecodeConfig(max_actions=80, no_repeat=no_repeat, repeat_penalty=0.0)
        [answers] = shipped.fill([program], config)
        dumps = [ast.dump(s) for s in codec.decode_hole(program.symbols[0], True, answers[0])]
        copies[no_repeat] = len(dumps) - len(set(dumps))
        compile(codec.decode(program.filled(answers)), "<fill>", "exec")
    assert copies[False] > copies[True]


def test_no_repeat_masks_the_last_choice_of_a_written_statement() -> None:
    """After a statement (actions 7 8 9, a choice at 8, 9 forced) the same prefix may not choose 8
    again; where 8 is the only action left it stays allowed."""
    from astgen.codec.holes import LIST, HoleTask
    from astgen.decoding import _NoRepeat

    rep = _NoRepeat([HoleTask(prefix=[], prompt=[], kind=LIST)], torch.device("cpu"))
    v = 12

    def step(allowed_ids: list[int], between: bool, take: int) -> list[int]:
        allowed = torch.zeros(1, v, dtype=torch.bool)
        allowed[0, allowed_ids] = True
        rep.restrict(allowed, [between])
        rep.advanced([take], sep_id=11)
        return allowed[0].nonzero().flatten().tolist()

    assert step([7, 10], True, 7) == [7, 10]
    assert step([5, 8], False, 8) == [5, 8]
    assert step([9], False, 9) == [9]
    assert step([7, 10], True, 7) == [7, 10]  # (the statement 7 8 9 is complete)
    assert step([5, 8], False, 5) == [5]  # its last choice is masked
    assert step([9], False, 9) == [9]
    assert step([7], True, 7) == [7]
    assert step([8], False, 8) == [8]  # the only action: allowed


def _shapes(codec: Codec, program: object, answers: list[list[int]]) -> list[str]:
    from training.evaluate import statement_template

    stmts = codec.decode_hole(program.symbols[0], True, answers[0])  # type: ignore[attr-defined]
    return [statement_template(ast.unparse(s)) for s in stmts]


@pytest.mark.parametrize("source", REPEAT_SOURCES)
def test_repeat_penalty_fills_repeat_fewer_shapes(shipped: Generator, codec: Codec, source: str) -> None:
    """Without the sibling-copy penalty the shipped model's greedy fills write one statement shape again
    and again (`f('')`, `f('', '')`, ...); with it they repeat fewer shapes, and the program compiles."""
    program = holed_program(codec, source, shipped.config.hole_id)
    copies = {}
    for penalty in (0.0, 1.0):
        [answers] = shipped.fill([program], DecodeConfig(max_actions=120, repeat_penalty=penalty))
        shapes = _shapes(codec, program, answers)
        copies[penalty] = len(shapes) - len(set(shapes))
        compile(codec.decode(program.filled(answers)), "<fill>", "exec")
    assert copies[0.0] > copies[1.0]


def test_sibling_copies_penalise_continuing_a_copy(compiled: CompiledGrammar, codec: Codec) -> None:
    """Writing `x = g(a, c)` after `x = g(a, b)` in a function body (a non-empty list: its first
    statement comes before the list's `Seq` is on top): from the 4th action on, the action that would
    continue the copy costs `1.5 ** (j - 3)` logits at action j; once the statement differs, nothing."""
    from astgen.decoding import _SiblingCopies
    from astgen.matcher import Matcher, MatcherConfig

    def diverge(a: str, b: str) -> int:
        x, y = codec.encode(a), codec.encode(b)
        return next(i for i, (p, q) in enumerate(zip(x, y)) if p != q)

    head, one, two = "def f(p):\n", "    x = g(a, b)\n", "    x = g(a, c)\n"
    acts = codec.encode(head + one + two + "    pass\n")
    start, second = diverge(head + "    pass\n", head + one), diverge(head + one + "    pass\n", head + one + two)
    stmt1 = acts[start:second]
    k = diverge(head + one + one, head + one + two) - second  # where the copy stops
    assert k > 5
    matcher = Matcher.replayed(compiled, [acts[:start]], torch.device("cpu"), MatcherConfig(strict=False))
    total = int(matcher.t["sym_local"].shape[0])
    is_seq = torch.tensor([n.startswith("Seq(") for n in compiled.symbol_names], dtype=torch.bool)
    is_seq = torch.cat([is_seq, torch.zeros(max(0, total - len(is_seq)), dtype=torch.bool)])
    copies = _SiblingCopies(1, compiled, is_seq, DecodeConfig(repeat_penalty=1.0))
    for i in range(start, second + k + 3):
        copies.step(matcher, [0])
        logits = torch.zeros(1, compiled.n_actions)
        copies.penalize(logits, [0])
        j = i - second
        if j < 3 or j > k:
            assert not bool(logits.any()), f"action {j} of the second statement was penalised"
        else:
            expected = torch.zeros(compiled.n_actions)
            expected[stmt1[j]] = -(1.5 ** (j - 3))
            assert torch.allclose(logits[0], expected), f"action {j}"
        copies.advanced([acts[i]], [0])
        matcher.advance(torch.tensor([acts[i]]))


def test_module_attributes_fills_read_only_what_the_module_has(shipped: Generator, codec: Codec) -> None:
    """Unrestricted, the shipped model's greedy fill of `read_lines` invents `os` attributes
    (`os.basename`); restricted (the default), every `os.<attr>` it reads is one `os` has."""
    import os as os_module

    source = (  # `make demo`'s source
        'import os\n\n\ndef read_lines(path, encoding="utf-8"):\n'
        '    """Return the lines of a text file without their line endings."""\n'
        "    with open(path, encoding=encoding) as f:\n        ...\n\n\n"
        "def is_hidden(path):\n    name = os.path.basename(path)\n    return name.startswith(...)\n"
    )
    program = holed_program(codec, source, shipped.config.hole_id)
    invented = {}
    for on in (False, True):
        before = shipped.stats.module_attributes
        [answers] = shipped.fill([program], DecodeConfig(max_actions=120, module_attributes=on))
        tree = ast.parse(codec.decode(program.filled(answers)))
        reads = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "os"]
        invented[on] = [a for a in reads if not hasattr(os_module, a)]
        assert (shipped.stats.module_attributes > before) == on
    assert invented[False] and not invented[True]
