"""Command line: `astgen infill|generate`, `astgen grammar roundtrip|sample|encode|decode|info`, `astgen demo`.

Errors in user input become one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import math
import multiprocessing as mp
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from astgen.errors import AstgenError

if TYPE_CHECKING:
    from astgen.refactor import Operation, SamplingConfig

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="AST-native, grammar-constrained code generation.",
)
grammar_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The grammar, codec and matcher without a model."
)
app.add_typer(grammar_app, name="grammar")


def _fail(msg: str) -> None:
    typer.echo(f"astgen: error: {msg}", err=True)
    raise typer.Exit(2)


TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target-version",
        help="Write only syntax this Python version accepts, e.g. 3.11 (default: the running Python).",
    ),
]


def _target(value: str | None) -> tuple[int, int]:
    """The target version of a --target-version option (one line and exit 2 if it is not usable)."""
    from astgen.errors import InvalidOptionError
    from astgen.grammar.versions import RUNNING, parse_version

    try:
        return RUNNING if value is None else parse_version(value)
    except InvalidOptionError as e:
        _fail(f"--target-version: {e}")
        raise  # unreachable: _fail exits


def _read_input(path: str) -> tuple[str, str]:
    from astgen.codec import decode_source_bytes, read_source

    if path == "-":
        return decode_source_bytes(sys.stdin.buffer.read(), "<stdin>"), "<stdin>"
    p = Path(path)
    if not p.exists():
        raise AstgenError(f"{path}: no such file")
    if p.is_dir():
        raise AstgenError(f"{path}: is a directory")
    return read_source(p), str(p)


def _init_worker() -> None:
    """One torch thread per worker process (the grammar commands run without torch installed too)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _roundtrip_one(path: Path) -> object:
    from astgen.roundtrip import roundtrip_file

    return roundtrip_file(path)


@grammar_app.command("roundtrip", short_help="Check that decode(encode(f)) == f on files.")
def roundtrip(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the whole standard library).")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    limit: Annotated[int, typer.Option(min=1, help="Check only every N-th file (1 = all).")] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every failing file.")] = False,
) -> None:
    """Check decode(encode(f)) == f (ast.dump) for every file ast.parse accepts; report actions per character."""
    from tqdm import tqdm

    from astgen.corpus import python_files, stdlib_files
    from astgen.roundtrip import RoundtripResult

    files, missing = python_files(paths) if paths else (stdlib_files(), [])
    if missing:
        _fail(f"{missing[0]}: no such file or directory")
    files = files[:: max(1, limit)]
    t0 = time.time()
    results: list[RoundtripResult] = []
    with mp.get_context("spawn").Pool(max(1, jobs), initializer=_init_worker) as pool:
        for r in tqdm(
            pool.imap_unordered(_roundtrip_one, files, chunksize=4), total=len(files), desc="roundtrip", file=sys.stderr
        ):
            results.append(r)  # type: ignore[arg-type]
    counts = Counter(r.status for r in results)
    parsed = len(results) - counts["unparsable"]
    exact = counts["exact"]
    chars = sum(r.chars for r in results if r.status == "exact")
    actions = sum(r.actions for r in results if r.status == "exact")
    forced = sum(r.forced for r in results if r.status == "exact")
    typer.echo(f"files: {len(results)} ({counts['unparsable']} not accepted by ast.parse, not counted)")
    typer.echo(f"exact round trip: {exact}/{parsed} ({math.floor(10000 * exact / max(parsed, 1)) / 100:.2f}%)")
    if chars:
        typer.echo(f"actions: {actions} over {chars} characters of canonical source")
        typer.echo(
            f"actions per character: {actions / chars:.4f} "
            f"(forced {forced / chars:.4f}, model-visible {(actions - forced) / chars:.4f})"
        )
    typer.echo(f"time: {time.time() - t0:.1f}s with {jobs} worker(s)")
    failures = [r for r in results if r.status in ("mismatch", "error")]
    for r in failures if verbose else failures[:10]:
        typer.echo(f"  {r.status}: {r.path}: {r.message}")
    if failures:
        raise typer.Exit(1)


def _sample_chunk(args: tuple[int, int, int, int, str, tuple[int, int], bool]) -> dict[str, object]:
    from astgen.codec import default_codec, unparse
    from astgen.compiled_default import default_compiled
    from astgen.matcher import MatcherConfig
    from astgen.sampling import sample_uniform
    from astgen.validity import check_source, undefined_names

    seed, batch, max_actions, max_pieces, device, target, keep_sources = args
    cg = default_compiled()
    codec = default_codec()
    stats: Counter[str] = Counter()
    ctors: set[str] = set()
    failures: list[str] = []
    nodes = 0
    lengths = 0
    sources: list[str] = []
    mcfg = MatcherConfig(
        strict=True, max_actions=max_actions, max_terminal_pieces=max_pieces, stack_capacity=256, target_version=target
    )
    for ids in sample_uniform(cg, batch, seed=seed, max_actions=max_actions, device=device, config=mcfg):
        stats["n"] += 1
        lengths += len(ids)
        ctors.update(cg.vocab.name(a) for a in ids if cg.vocab.ctor_base <= a < cg.vocab.piece_base)
        try:
            src = unparse(codec.decode_tree(ids), target)
        except (AstgenError, ValueError, RecursionError) as e:
            failures.append(f"decode: {e} (batch seed {seed})")
            continue
        if keep_sources:
            sources.append(src)
        v = check_source(src)
        stats["parse"] += v.parses
        stats["compile"] += v.compiles
        stats["tree_sitter"] += v.tree_sitter_ok
        stats["tree_sitter_exempt"] += v.tree_sitter_gap is not None
        if v.parses:
            import ast

            undefined = undefined_names(src)
            stats["names_ok"] += not undefined
            if undefined and sum(f.startswith("pyflakes") for f in failures) < 2:
                failures.append(f"pyflakes: {undefined[0]} (batch seed {seed})\n{src[:2000]}")

            from astgen.codec.source import quiet_parse

            nodes += sum(1 for _ in ast.walk(quiet_parse(src)))
        if v.error:
            kind = v.error.split(":", 1)[0]
            if sum(f.startswith(kind) for f in failures) < 2:
                failures.append(f"{v.error} (batch seed {seed})\n{src[:2000]}")
    return {
        "stats": stats,
        "ctors": ctors,
        "failures": failures,
        "nodes": nodes,
        "actions": lengths,
        "sources": sources,
    }


@grammar_app.command("sample", short_help="Sample programs from the grammar mask alone and check them.")
def sample(
    n: Annotated[int, typer.Option("-n", min=1, help="Number of programs.")] = 2000,
    batch: Annotated[int, typer.Option(min=1, help="Sequences per matcher batch.")] = 64,
    seed: Annotated[int, typer.Option(help="Base seed; batch i uses seed + i.")] = 0,
    max_actions: Annotated[int, typer.Option(min=1, help="Length budget per program, in actions.")] = 400,
    max_terminal_pieces: Annotated[int, typer.Option(min=1, help="Soft cap on pieces per terminal.")] = 4,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    device: Annotated[str, typer.Option(help="Torch device of the matcher, e.g. cpu or cuda.")] = "cpu",
    show: Annotated[int, typer.Option(min=0, help="Print this many sampled programs.")] = 0,
    target_version: TargetOpt = None,
    python: Annotated[
        str | None,
        typer.Option(help="Also parse and compile every program with this Python interpreter (e.g. a 3.11 one)."),
    ] = None,
) -> None:
    """Sample programs from the mask alone (uniform over allowed actions) and check them with
    ast.parse, compile() and tree-sitter-python."""
    from astgen.compiled_default import default_compiled

    if n <= 0 or batch <= 0:
        _fail("-n and --batch must be positive")
    cg = default_compiled()
    n_batches = (n + batch - 1) // batch
    target = _target(target_version)
    tasks = [
        (seed + i, batch, max_actions, max_terminal_pieces, device, target, python is not None)
        for i in range(n_batches)
    ]
    t0 = time.time()
    totals: Counter[str] = Counter()
    ctors: set[str] = set()
    failures: list[str] = []
    nodes = actions = 0
    sources: list[str] = []
    from tqdm import tqdm

    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, jobs), initializer=_init_worker) as pool:
        for res in tqdm(pool.imap(_sample_chunk, tasks), total=len(tasks), desc="sample", file=sys.stderr):
            totals.update(res["stats"])  # type: ignore[arg-type]
            ctors |= res["ctors"]  # type: ignore[operator]
            failures.extend(res["failures"])  # type: ignore[arg-type]
            nodes += res["nodes"]  # type: ignore[operator]
            actions += res["actions"]  # type: ignore[operator]
            sources.extend(res["sources"])  # type: ignore[arg-type]
    total = totals["n"]
    all_ctors = set(cg.vocab.constructors)

    def pct(k: str) -> str:  # rounded down: 100.00% only when every program passes
        return f"{totals[k]}/{total} = {math.floor(10000 * totals[k] / max(total, 1)) / 100:.2f}%"

    typer.echo(f"programs: {total} (seed {seed}, batch {batch}, max_actions {max_actions}, {time.time() - t0:.1f}s)")
    typer.echo(f"ast.parse:           {pct('parse')}")
    typer.echo(f"compile(..., exec):  {pct('compile')}")
    typer.echo(
        f"tree-sitter-python:  {pct('tree_sitter')} "
        f"({totals['tree_sitter_exempt']} exempt: constructs tree-sitter rejects, see docs/grammar.md)"
    )
    typer.echo(f"pyflakes, no undefined name or use before assignment: {pct('names_ok')}")
    if python is not None:
        typer.echo(f"{python}: {_check_with(python, sources)}")
    typer.echo(f"mean size: {nodes / max(total, 1):.1f} ast nodes, {actions / max(total, 1):.1f} actions")
    typer.echo(
        f"constructor coverage: {len(ctors & all_ctors)}/{len(all_ctors)} = "
        f"{100.0 * len(ctors & all_ctors) / len(all_ctors):.1f}%"
    )
    missing = sorted(all_ctors - ctors)
    if missing:
        typer.echo(f"  never sampled: {', '.join(missing)}")
    shown: Counter[str] = Counter()
    for f in failures:  # a few of each kind: decode, parse, compile, tree-sitter
        kind = f.split(":", 1)[0]
        if shown[kind] < 3:
            shown[kind] += 1
            typer.echo(f"--- failure\n{f}")
    if show:
        from astgen.codec import default_codec
        from astgen.sampling import sample_uniform

        for ids in sample_uniform(
            cg, show, seed=seed, max_actions=max_actions, max_terminal_pieces=max_terminal_pieces
        ):
            typer.echo("--- sample\n" + default_codec().decode(ids))
    if totals["compile"] != total or totals["tree_sitter"] != total or totals["names_ok"] != total:
        raise typer.Exit(1)


@grammar_app.command("encode")
def encode_cmd(
    path: Annotated[str, typer.Argument(help="A Python file, or - for stdin.")],
    names: Annotated[bool, typer.Option("--names", help="Print action names instead of ids.")] = False,
) -> None:
    """Print the action ids (or names) of a file."""
    from astgen.codec import default_codec

    try:
        source, filename = _read_input(path)
        ids = default_codec().encode(source, filename)
    except AstgenError as e:
        _fail(str(e))
    vocab = default_codec().vocab
    typer.echo(" ".join(vocab.name(i) for i in ids) if names else " ".join(map(str, ids)))


_CHECK_PROGRAM = """
import ast, json, sys, warnings
warnings.simplefilter("ignore")
ok, first = 0, None
for i, src in enumerate(json.load(sys.stdin)):
    try:
        compile(ast.parse(src), "<sample>", "exec")
        ok += 1
    except (SyntaxError, ValueError) as e:
        first = first or f"program {i}: {e}"
print(json.dumps([ok, first]))
"""


def _check_with(python: str, sources: list[str]) -> str:
    """Parse and compile `sources` with another interpreter; a summary line."""
    import json
    import subprocess

    try:
        out = subprocess.run(
            [python, "-c", _CHECK_PROGRAM], input=json.dumps(sources), capture_output=True, text=True, timeout=3600
        )
        ok, first = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return f"could not run it ({e})"
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    share = 100.0 * ok / max(len(sources), 1)
    line = f"Python {version.stdout.strip()} parses and compiles {ok}/{len(sources)} = {share:.2f}%"
    return line + (f"; first failure: {first}" if first else "")


@grammar_app.command("decode")
def decode_cmd(
    path: Annotated[str, typer.Argument(help="A file of whitespace-separated action ids, or - for stdin.")],
) -> None:
    """Print the canonical source of an action sequence."""
    from astgen.codec import default_codec

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        ids = [int(x) for x in text.split()]
        typer.echo(default_codec().decode(ids))
    except (AstgenError, ValueError, OSError) as e:
        _fail(str(e))


@grammar_app.command("info")
def info() -> None:
    """Sizes and hashes of the shipped grammar."""
    from astgen.compiled_default import default_compiled
    from astgen.grammar import load

    g = load()
    cg = default_compiled()
    typer.echo(
        f"grammar: python, hash {g.content_hash}, {len(g.nonterminals)} nonterminal instances, "
        f"{len(g.constructor_names)} constructors, {len(g.terminals)} terminal classes"
    )
    typer.echo(
        f"compiled: {cg.n_symbols} stack symbols ({cg.dfa_base} grammar, {cg.n_symbols - cg.dfa_base} "
        f"terminal-automaton states), {cg.n_actions} actions ({len(cg.vocab.pieces)} pieces), "
        f"hash {cg.content_hash}"
    )


CheckpointOpt = Annotated[
    Path | None, typer.Option("--checkpoint", help="Checkpoint folder (default: the one shipped with astgen).")
]
DeviceOpt = Annotated[str, typer.Option(help="Torch device of the model and the grammar mask, e.g. cpu or cuda.")]


def _generator(checkpoint: Path | None, device: str = "cpu"):  # type: ignore[no-untyped-def]
    import torch

    from astgen.generator import load

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 4)))
    return load(checkpoint, device=device)


def _refactor(
    paths: list[str],
    op: Operation,
    sampling: SamplingConfig,
    in_place: bool,
    check: bool,
    print_: bool,
    jobs: int,
    checkpoint: Path | None,
    device: str,
) -> None:
    """Apply `op` to files and folders: diff (default), --print, --in-place or --check."""
    from astgen.refactor.runner import Output, run_files

    if sum((in_place, check, print_)) > 1:
        _fail("choose at most one of --in-place, --check and --print")
    output: Output = "in-place" if in_place else "check" if check else "print" if print_ else "diff"
    code = run_files(paths, op, sampling, output, jobs, partial(_generator, checkpoint, device))
    if code:
        raise typer.Exit(code)


InPlaceOpt = Annotated[bool, typer.Option("--in-place", help="Write the changes (atomically; permissions kept).")]
CheckOpt = Annotated[bool, typer.Option("--check", help="Exit 1 if any file would change; write nothing.")]
PrintOpt = Annotated[bool, typer.Option("--print", help="Print the new content of each file instead of a diff.")]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files processed in parallel (processes).")]
TempOpt = Annotated[float, typer.Option(min=0.0, help="Sampling temperature; 0 is greedy.")]
TopPOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Nucleus sampling: keep this share of the mass, in (0, 1].")
]
SeedOpt = Annotated[int | None, typer.Option(help="Sampling seed.")]
MaxOpt = Annotated[int, typer.Option(min=1, help="Longest hole, in actions beyond its shortest completion.")]
FillTempOpt = Annotated[
    float | None,
    typer.Option("--temperature", min=0.0, help="Sampling temperature; 0 is greedy.  [default: 0, 0.8 with --samples]"),
]
FillTopPOpt = Annotated[
    float | None,
    typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling share.  [default: 1, 0.95 with --samples]"),
]
SamplesOpt = Annotated[
    int,
    typer.Option(
        "--samples", min=1, help="Sample this many fillings per file in one batch; write the most likely that passes."
    ),
]
DoctestOpt = Annotated[
    bool,
    typer.Option(
        "--doctest", help="Check each filling with the doctests of the functions holding the holes (sandboxed)."
    ),
]
CheckCmdOpt = Annotated[
    str | None,
    typer.Option(
        "--check-cmd",
        help="Check each filling with this shell command, run in a temporary copy of the file's project "
        "(nearest pyproject.toml/setup.py/.git) with the filled file in place; exit 0 passes.",
    ),
]
CheckTimeoutOpt = Annotated[
    float | None,
    typer.Option("--check-timeout", min=0.1, help="Seconds per check run.  [default: 10 doctest, 120 cmd]"),
]


def _sampling(
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    max_actions: int,
    target_version: str | None,
    samples: int,
    doctest: bool,
    check_cmd: str | None,
    check_timeout: float | None,
):  # type: ignore[no-untyped-def]
    """The SamplingConfig of `infill` / `rewrite` (`astgen.refactor.sampling_config`; exit 2 on options
    that do not go together)."""
    from astgen.errors import InvalidOptionError
    from astgen.refactor import sampling_config

    target = _target(target_version)
    try:
        return sampling_config(
            temperature, top_p, seed, max_actions, target, samples, doctest, check_cmd, check_timeout
        )
    except InvalidOptionError as e:
        _fail(str(e))
        raise  # unreachable: _fail exits


@app.command("infill", short_help="Fill the `...` holes of files; keep every other byte.")
def infill_cmd(
    paths: Annotated[list[str], typer.Argument(help="Python files or folders with `...` holes; - for stdin.")],
    all_holes: Annotated[
        bool,
        typer.Option(
            "--all-holes",
            help="Fill every `...`, also the idiomatic ones (annotations, subscripts, defaults, stubs, protocols).",
        ),
    ] = False,
    in_place: InPlaceOpt = False,
    check: CheckOpt = False,
    print_: PrintOpt = False,
    jobs: JobsOpt = 1,
    temperature: FillTempOpt = None,
    top_p: FillTopPOpt = None,
    seed: SeedOpt = None,
    max_actions: MaxOpt = 256,
    samples: SamplesOpt = 1,
    doctest: DoctestOpt = False,
    check_cmd: CheckCmdOpt = None,
    check_timeout: CheckTimeoutOpt = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "cpu",
    target_version: TargetOpt = None,
) -> None:
    """Fill the `...` holes; every other byte of the file is kept.  Default: print a unified diff.
    Idiomatic `...` (annotations, subscripts, defaults, @overload/@abstractmethod stubs, Protocol classes,
    .pyi files) are not holes unless --all-holes; a `# astgen: fill` comment selects holes exactly.
    With --doctest or --check-cmd, only a filling that passes is written; if none of the --samples
    passes, the file is left unchanged, the most likely filling is shown, and the exit code is 3."""
    from astgen.refactor import Operation

    sampling = _sampling(
        temperature, top_p, seed, max_actions, target_version, samples, doctest, check_cmd, check_timeout
    )
    _refactor(
        paths, Operation("infill", all_holes=all_holes), sampling, in_place, check, print_, jobs, checkpoint, device
    )


@app.command("rewrite", short_help="Regenerate a function body or a span; keep the rest.")
def rewrite_cmd(
    paths: Annotated[list[str], typer.Argument(help="Python files or folders; - for stdin.")],
    function: Annotated[str | None, typer.Option(help="Regenerate the body of this function (f or Class.f).")] = None,
    span: Annotated[
        str | None, typer.Option(help="Regenerate the smallest statement/expression covering L:C-L:C (1-based).")
    ] = None,
    in_place: InPlaceOpt = False,
    check: CheckOpt = False,
    print_: PrintOpt = False,
    jobs: JobsOpt = 1,
    temperature: FillTempOpt = None,
    top_p: FillTopPOpt = None,
    seed: SeedOpt = None,
    max_actions: MaxOpt = 256,
    samples: SamplesOpt = 1,
    doctest: DoctestOpt = False,
    check_cmd: CheckCmdOpt = None,
    check_timeout: CheckTimeoutOpt = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "cpu",
    target_version: TargetOpt = None,
) -> None:
    """Regenerate a function body (--function) or the node covering a span (--span); the rest is kept.
    --samples / --doctest / --check-cmd as for `infill`."""
    from astgen.refactor import Operation, parse_span

    if (function is None) == (span is None):
        _fail("give exactly one of --function NAME and --span L:C-L:C")
    op = Operation("function", function=function) if function else Operation("span", span=parse_span(span or ""))
    sampling = _sampling(
        temperature, top_p, seed, max_actions, target_version, samples, doctest, check_cmd, check_timeout
    )
    _refactor(paths, op, sampling, in_place, check, print_, jobs, checkpoint, device)


@app.command("generate")
def generate_cmd(
    prompt: Annotated[str | None, typer.Option(help="File whose code the new functions follow (- = stdin).")] = None,
    n: Annotated[int, typer.Option("-n", min=1, help="How many functions.")] = 3,
    temperature: TempOpt = 0.8,
    top_p: TopPOpt = 0.95,
    seed: SeedOpt = 0,
    max_actions: Annotated[int, typer.Option(min=1, help="Longest function, in actions.")] = 384,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "cpu",
    target_version: TargetOpt = None,
) -> None:
    """Print newly sampled top-level functions (each compiles)."""
    target = _target(target_version)
    source = ""
    name = "<prompt>"
    if prompt is not None:
        source, name = _read_input(prompt)
    gen = _generator(checkpoint, device)
    for i, fn in enumerate(
        gen.generate(
            source,
            n=n,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            max_actions=max_actions,
            filename=name,
            target_version=target,
        )
    ):
        typer.echo(f"# --- function {i + 1}")
        typer.echo(fn)


_DEMO_HOLES = '''import os


def read_lines(path, encoding="utf-8"):
    """Return the lines of a text file without their line endings."""
    with open(path, encoding=encoding) as f:
        ...


def is_hidden(path):
    name = os.path.basename(path)
    return name.startswith(...)
'''


COMPARE_BUDGETS = ("small", "full")  # training.compare.BUDGETS (a test keeps the two in step)


@app.command("compare", short_help="Research: compare the AST model with a token model.")
def compare_cmd(
    budget: Annotated[
        str,
        typer.Option(
            help="Which comparison: small runs end to end in under 30 minutes on a 2-core CPU; full is the run "
            "docs/report.md quotes."
        ),
    ] = "small",
    skip: Annotated[list[str] | None, typer.Option(help="Leave out: functional, samples, infill, bpc.")] = None,
) -> None:
    """Research harness: train or load the AST model and a token-level baseline of the same size, data and
    compute; evaluate both on the held-out test split; write the report and plots (source checkout only)."""
    import subprocess

    if budget not in COMPARE_BUDGETS:
        _fail(f"--budget must be one of {', '.join(COMPARE_BUDGETS)}, got {budget!r}")
    root = _source_checkout()
    if root is None:
        _fail(
            "astgen compare runs the research harness of a source checkout (training/ is not installed with "
            "the package): run it inside a clone of the astgen repository, or `python -m training.compare` there"
        )
    command = [sys.executable, "-m", "training.compare", "--budget", budget, *(["--skip", *skip] if skip else [])]
    code = subprocess.call(command, cwd=root)
    if code:
        raise typer.Exit(code)


def _source_checkout() -> Path | None:
    """The astgen source checkout this package runs from (an editable install), or the working folder
    if it is one; None otherwise.  `training/` lives beside the package there, not in it."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if (root / "training" / "compare.py").is_file() and (root / "astgen" / "cli.py").is_file():
            return root
    return None


@app.command("demo", short_help="Show astgen at work on a small file and a real one.")
def demo(
    path: Annotated[str | None, typer.Argument(help="File to round-trip (default: a standard-library module).")] = None,
    samples: Annotated[int, typer.Option(min=0, help="Programs to sample from the grammar mask.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the generated functions and the mask-only samples.")] = 0,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Show astgen at work: infill and generation with the shipped model, a round trip of a real file,
    and programs sampled from the grammar mask alone."""
    import time as _time

    from astgen.validity import check_source as _check

    gen = _generator(checkpoint, device)
    typer.echo("== infill: every `...` below is a hole (a statement hole, then an expression hole)")
    typer.echo(_DEMO_HOLES)
    from astgen.decoding import DecodeStats

    gen.stats = DecodeStats()
    t0 = _time.perf_counter()
    filled = gen.infill(_DEMO_HOLES, seed=seed)
    wall = _time.perf_counter() - t0
    s = gen.stats
    v = _check(filled)
    typer.echo(
        f"-- filled in {wall:.2f}s: {s.actions} actions, {s.model_seconds:.2f}s in the model "
        f"({s.model_calls} calls), {s.mask_seconds:.2f}s in the grammar, {s.replay_seconds:.2f}s replaying "
        f"the code before the holes (parses={v.parses} compiles={v.compiles}):"
    )
    typer.echo(filled)
    typer.echo(f"\n== generate: two new functions after `import os` (temperature 0.8, seed {seed})")
    for fn in gen.generate("import os\n", n=2, seed=seed):
        v = _check(fn)
        typer.echo(f"-- parses={v.parses} compiles={v.compiles}")
        typer.echo(fn)
    typer.echo("")
    import ast
    import sysconfig

    from astgen.codec import default_codec
    from astgen.compiled_default import default_compiled
    from astgen.grammar.replay import replay
    from astgen.sampling import sample_uniform
    from astgen.validity import check_source

    target = path or str(Path(sysconfig.get_paths()["stdlib"]) / "json" / "encoder.py")
    codec = default_codec()
    cg = default_compiled()
    try:
        source, filename = _read_input(target)
        ids = codec.encode(source, filename)
    except AstgenError as e:
        _fail(str(e))
    out = codec.decode(ids)
    same = ast.dump(ast.parse(out)) == ast.dump(ast.parse(source))
    r = replay(cg, ids)
    typer.echo(f"\n== round trip of {filename}")
    typer.echo(
        f"{len(source)} characters -> {len(ids)} actions ({r.n_visible} model-visible, {r.n_forced} forced) "
        f"-> {len(out)} characters of canonical source; ast.dump equal: {same}"
    )
    typer.echo("first actions: " + " ".join(cg.vocab.name(a) for a in ids[:24]) + " ...")
    typer.echo(
        f"\n== {samples} programs sampled from the grammar mask alone (uniform over allowed actions, seed {seed})"
    )
    for ids in sample_uniform(cg, samples, seed=seed, max_actions=160, max_terminal_pieces=2):
        src = codec.decode(ids)
        v = check_source(src)
        typer.echo(f"--- {len(ids)} actions; parses={v.parses} compiles={v.compiles} tree-sitter={v.tree_sitter_ok}")
        typer.echo(src)


def _usage_errors() -> tuple[type[Exception], ...]:
    """The base classes of command-line usage errors: typer's own (it vendors click since 0.2x) and click's."""
    import click

    try:
        from typer.exceptions import TyperException
    except ImportError:  # a typer that still uses click's own exceptions
        return (click.ClickException,)
    return (TyperException, click.ClickException)


def main() -> None:
    """Console entry point: a bad option or input is one line on stderr and exit code 2."""
    import click

    try:
        code = app(standalone_mode=False, prog_name="astgen")
    except (typer.Abort, click.Abort):
        typer.echo("astgen: aborted", err=True)
        sys.exit(130)
    except AstgenError as e:
        typer.echo(f"astgen: error: {e}", err=True)
        sys.exit(2)
    except _usage_errors() as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `astgen` alone: its help
            typer.echo(ctx.get_help())
            sys.exit(2)
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"astgen: error: {message}{where}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
