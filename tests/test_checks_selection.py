"""Execution-grounded selection: which functions a doctest check runs, how candidates are picked, and the
refactoring tool's "nothing passes" path (file untouched, exit code 3) with a fake filler."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
import warnings
from collections.abc import Collection
from pathlib import Path

import pytest

from astgen.checks import (
    CallableCheck,
    CheckOutcome,
    CommandCheck,
    DoctestCheck,
    as_check,
    hole_functions,
    select_candidate,
)
from astgen.errors import InvalidOptionError, NoCheckError, NoPassingFillWarning

ADD = '''"""Arithmetic."""


def add(a, b):
    """Return the sum.

    >>> add(2, 3)
    5
    """
    ...


class Box:
    def scaled(self, k):
        """
        >>> Box().scaled(3)
        6
        """
        return 2 * k
'''


def _holes(source: str) -> list[tuple[int, int]]:
    tree = ast.parse(source)
    return [(n.lineno, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value is Ellipsis]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    ...\n", ["f"]),
        ("class A:\n    def m(self):\n        return ...\n", ["A.m"]),
        ("def outer():\n    def inner():\n        ...\n    return inner\n", ["outer"]),
        ("x = ...\ndef f():\n    pass\n", []),
        ("class A:\n    x = ...\n", []),
        ("def f():\n    ...\ndef g():\n    return f(...)\n", ["f", "g"]),
    ],
)
def test_hole_functions_names_the_reachable_function_around_each_hole(source: str, expected: list[str]) -> None:
    assert hole_functions(ast.parse(source), _holes(source)) == expected


def _filled(body: str) -> bytes:
    return ADD.replace("    ...\n", f"    {body}\n", 1).encode()


@pytest.mark.parametrize(("body", "passes"), [("return a + b", True), ("return a - b", False), ("pass", False)])
def test_doctest_check_runs_the_examples_of_the_function_with_the_hole(body: str, passes: bool) -> None:
    run = DoctestCheck().bind(ADD, "arith.py", _holes(ADD))
    outcome = run(_filled(body))
    assert outcome.passed is passes, outcome.detail
    if not passes:
        assert "examples failed" in outcome.detail


def test_doctest_check_also_runs_the_module_docstring() -> None:
    source = '"""\n>>> 1 + 1\n3\n"""\n\n\ndef f():\n    ...\n'
    run = DoctestCheck().bind(source, "m.py", _holes(source))  # f has no examples; the module has one
    assert not run(source.replace("...", "return 1").encode()).passed


def test_doctest_check_without_examples_is_refused_before_running() -> None:
    source = "def f(x):\n    ...\n"
    with pytest.raises(NoCheckError, match=r"m\.py: --doctest has nothing to run: the holes are in f"):
        DoctestCheck().bind(source, "m.py", _holes(source))


def test_doctest_check_of_a_looping_fill_times_out_and_fails() -> None:
    run = DoctestCheck(timeout_s=1).bind(ADD, "arith.py", _holes(ADD))
    outcome = run(_filled("while True: pass"))
    assert not outcome.passed and "timeout" in outcome.detail


def test_doctest_check_imports_sibling_modules_of_a_real_file(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    source = "from helper import twice\n\n\ndef g(x):\n    '''\n    >>> g(4)\n    8\n    '''\n    ...\n"
    path = tmp_path / "main.py"
    path.write_text(source)
    run = DoctestCheck().bind(source, str(path), _holes(source))
    assert run(source.replace("    ...", "    return twice(x)").encode()).passed


def test_select_candidate_checks_most_likely_first_and_stops_at_a_pass() -> None:
    calls: list[bytes] = []

    def check(data: bytes) -> CheckOutcome:
        calls.append(data)
        return CheckOutcome(data == b"b", "ok" if data == b"b" else "nope")

    selection = select_candidate([(b"a", -1.0), (b"b", -2.0), (b"c", -3.0)], check, "f.py")
    assert selection.passed is True and selection.chosen.data == b"b"
    assert calls == [b"a", b"b"]  # c is never run
    assert selection.candidates[2].outcome is None


def test_select_candidate_falls_back_to_the_most_likely_when_nothing_passes() -> None:
    selection = select_candidate([(b"a", -1.0), (b"b", -2.0)], lambda d: CheckOutcome(False, "boom\nlast line"), "f.py")
    assert selection.passed is False and selection.chosen.data == b"a"
    assert "none of 2 distinct candidates passed" in selection.message and "last line" in selection.message


def test_as_check_accepts_the_documented_forms() -> None:
    assert isinstance(as_check("doctest"), DoctestCheck)
    assert isinstance(as_check(lambda s: True), CallableCheck)
    command = CommandCheck("true")
    assert as_check(command) is command
    with pytest.raises(InvalidOptionError, match="unknown check 'pytest'"):
        as_check("pytest")


def test_command_check_needs_a_file_on_disk() -> None:
    with pytest.raises(InvalidOptionError, match="needs a file on disk"):
        CommandCheck("true").bind("x = ...\n", "<stdin>", [(1, 4)])


class _FakeFiller:
    """A HoleFiller whose candidates are fixed statement bodies for hole 0, most likely first."""

    def __init__(self, bodies: list[str]):
        self.bodies = bodies
        self.requests: list[int] = []

    def fill_holes(self, source: str, **kw: object) -> dict[int, list[ast.stmt] | ast.expr]:
        return {0: ast.parse(self.bodies[0]).body}

    def fill_candidates(
        self, source: str, samples: int, generators: Collection[int] = (), **kw: object
    ) -> list[tuple[dict[int, list[ast.stmt] | ast.expr], float]]:
        self.requests.append(samples)
        return [({0: ast.parse(b).body}, -float(i)) for i, b in enumerate(self.bodies[:samples])]


def _run_on(path: Path, filler: _FakeFiller, output: str, check: object) -> int:
    from astgen.refactor import Operation, SamplingConfig
    from astgen.refactor.runner import run_files

    sampling = SamplingConfig(samples=4, check=check)  # type: ignore[arg-type]
    return run_files([str(path)], Operation("infill"), sampling, output, 1, lambda: filler)  # type: ignore[arg-type]


def test_nothing_passes_leaves_the_file_untouched_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "arith.py"
    path.write_text(ADD)
    filler = _FakeFiller(["return a - b", "return a * b", "pass"])
    assert _run_on(path, filler, "in-place", DoctestCheck()) == 3
    assert path.read_text() == ADD
    err = capsys.readouterr().err
    assert "none of 3 distinct candidates passed the check" in err and "left unchanged" in err
    assert filler.requests == [4]


def test_nothing_passes_in_diff_mode_shows_the_most_likely_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "arith.py"
    path.write_text(ADD)
    assert _run_on(path, _FakeFiller(["return a - b", "pass"]), "diff", DoctestCheck()) == 3
    out = capsys.readouterr()
    assert "+    return a - b" in out.out and "not written" in out.err
    assert path.read_text() == ADD


def test_the_most_likely_passing_fill_is_written(tmp_path: Path) -> None:
    path = tmp_path / "arith.py"
    path.write_text(ADD)
    assert _run_on(path, _FakeFiller(["return a - b", "return a + b", "return b + a"]), "in-place", DoctestCheck()) == 0
    assert path.read_text() == ADD.replace("    ...\n", "    return a + b\n", 1)


def test_command_check_selects_the_fill_the_project_tests_accept(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "arith.py").write_text(ADD)
    (project / "check_arith.py").write_text("from arith import add\nassert add(5, 7) == 12\n")
    filler = _FakeFiller(["return a - b", "return 12", "return a + b"])
    assert _run_on(project / "arith.py", filler, "in-place", CommandCheck("python check_arith.py")) == 0
    assert "return 12" in (project / "arith.py").read_text()  # the second most likely passes this test
    assert sorted(p.name for p in project.iterdir()) == ["arith.py", "check_arith.py", "pyproject.toml"]


def test_generator_infill_warns_and_returns_the_most_likely_when_nothing_passes(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def never(source: str) -> bool:
        seen.append(source)
        return False

    with pytest.warns(NoPassingFillWarning, match="none of"):
        out = tiny_generator.infill("def f(x):\n    return ...\n", samples=3, check=never, seed=0, max_actions=8)
    selection = tiny_generator.infill_candidates(
        "def f(x):\n    return ...\n", samples=3, check=never, seed=0, max_actions=8
    )
    assert out == selection.chosen.source == selection.candidates[0].source
    scores = [c.score for c in selection.candidates]
    assert scores == sorted(scores, reverse=True) and all(s <= 0 for s in scores)
    assert len({c.source for c in selection.candidates}) == len(selection.candidates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # the tiny model calls constants
        compile(out, "<fill>", "exec")


def test_generator_infill_returns_the_first_passing_candidate(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    source = "def f(x):\n    return ...\n"
    ranked = tiny_generator.infill_candidates(source, samples=4, seed=1, max_actions=8)
    if len(ranked.candidates) < 2:
        pytest.skip("the tiny model sampled one distinct fill")
    wanted = ranked.candidates[1].source
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tiny_generator.infill(source, samples=4, check=lambda s: s == wanted, seed=1, max_actions=8)
    assert out == wanted


def test_doctest_without_examples_costs_no_model_time(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    calls = tiny_generator.stats.model_calls
    with pytest.raises(NoCheckError):
        tiny_generator.infill("def f(x):\n    ...\n", samples=4, check="doctest")
    assert tiny_generator.stats.model_calls == calls


def test_cli_doctest_on_a_file_without_examples_answers_before_the_model_loads(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("def f(x):\n    ...\n")
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "astgen", "infill", str(path), "--samples", "4", "--doctest", "--in-place"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"astgen: error: {path}: --doctest has nothing to run: the holes are in f, and neither those functions "
        "nor the module docstring have doctest examples (>>> lines)"
    ]
    assert time.monotonic() - start < 30 and "torch" not in out.stderr
    assert path.read_text() == "def f(x):\n    ...\n"


def test_sampled_candidates_include_the_greedy_fill(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    source = "def f(x):\n    return ...\n"
    greedy = tiny_generator.infill(source, max_actions=8)
    selection = tiny_generator.infill_candidates(source, samples=4, seed=2, max_actions=8)
    assert greedy in {c.source for c in selection.candidates}


def test_doctest_check_imports_the_filled_module_under_its_package_name(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = "def f(x):\n    '''\n    >>> from pkg.mod import f\n    >>> f(2)\n    3\n    '''\n    ...\n"
    (package / "mod.py").write_text(source.replace("    ...", "    return x"))  # the file on disk fails
    run = DoctestCheck().bind(source, str(package / "mod.py"), _holes(source))
    assert run(source.replace("    ...", "    return x + 1").encode()).passed
    assert not run(source.replace("    ...", "    return x").encode()).passed


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    '''\n    >>> 1 + 1\n    2\n    '''\n    ...\n",  # the examples never call f
        "def f(x):\n    '''\n    >>> f(0)\n    '''\n    if x:\n        return ...\n",  # nor reach the hole
    ],
)
def test_doctest_check_that_never_runs_the_holes_is_refused(source: str) -> None:
    with pytest.raises(NoCheckError, match="cannot check these holes"):
        DoctestCheck().bind(source, "m.py", _holes(source))


def test_callable_check_reads_the_file_in_its_declared_encoding() -> None:
    run = CallableCheck(lambda source: "é" in source).bind("", "x.py", [])
    assert run('# -*- coding: latin-1 -*-\nx = "é"\n'.encode("latin-1")).passed
    assert run('x = "é"\n'.encode()).passed
