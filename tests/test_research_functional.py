"""Functional tasks: which functions qualify, and whether their checks tell a right body from a wrong one."""

from __future__ import annotations

import ast

import pytest

from astgen.checks import module_name
from astgen.research.functional import (
    FunctionalTask,
    broken_source,
    candidate_tasks,
    check_script,
    find_tasks,
    run_check,
)
from astgen.sandbox import run_sandboxed

PATH = "/somewhere/lib/python3.11/site-packages/toypkg/maths.py"


def canonical(source: str) -> str:
    return ast.unparse(ast.parse(source))


DOCTEST_MODULE = canonical('''
"""A toy module."""
import dataclasses

@dataclasses.dataclass
class Pair:
    a: int
    b: int

def add(a, b):
    """Add two numbers.

    >>> add(2, 3)
    5
    >>> add(Pair(1, 2).a, 10)
    11
    """
    total = a
    total = total + b
    return total

def helper(x):
    y = x * 2
    return y
''')

TEST_MODULE = canonical("""
def double(x):
    return 2 * x

def test_double():
    values = [double(i) for i in range(4)]
    assert values == [0, 2, 4, 6]

def test_with_argument(x):
    y = double(x)
    assert y == 2 * x

def test_short():
    assert double(1) == 2
""")


def _task(source: str, function: str) -> FunctionalTask:
    (task,) = [t for t in candidate_tasks(PATH, source) if t.function == function]
    return task


def test_doctest_function_is_a_candidate_at_its_def_line() -> None:
    tasks = candidate_tasks(PATH, DOCTEST_MODULE)
    assert [(t.function, t.check) for t in tasks] == [("add", "doctest")]
    (task,) = tasks
    assert task.path == PATH and task.source == DOCTEST_MODULE
    assert DOCTEST_MODULE.splitlines()[task.lineno - 1].startswith("def add(")


def test_test_function_candidates() -> None:
    tasks = candidate_tasks(PATH, TEST_MODULE)
    # test_with_argument takes a parameter, test_short has one statement: neither qualifies.
    assert [(t.function, t.check) for t in tasks] == [("test_double", "test")]


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    y = x + 1\n    return y\n",  # no check at all
        'def f(x):\n    """No examples here."""\n    y = x + 1\n    return y\n',
        'def f(x):\n    """>>> f(1)\n    2\n    """\n    return x + 1\n',  # one statement besides the docstring
        'async def f(x):\n    """>>> 1\n    1\n    """\n    y = x\n    return y\n',  # async
        'class C:\n\n    def f(self):\n        """>>> 1\n        1\n        """\n        y = 1\n        return y\n',
        "def test_gen():\n    x = 1\n    assert x\n    yield x\n",  # a generator runs nothing when called
        "def test_nested():\n    x = 1\n\n    def inner():\n        assert x\n    return inner\n",  # assert not in its body
        "def check_x():\n    x = 1\n    assert x == 1\n",  # not named test*
    ],
)
def test_functions_without_usable_checks_are_not_candidates(source: str) -> None:
    assert candidate_tasks(PATH, canonical(source)) == []


def test_redefined_names_are_skipped() -> None:
    source = canonical("def test_a():\n    x = 1\n    assert x\n\ndef test_a():\n    x = 2\n    assert x\n")
    assert candidate_tasks(PATH, source) == []


def test_non_canonical_source_is_canonicalised() -> None:
    messy = "def test_a( ):\n\n    # comment\n    x = (1 +\n         2)\n    assert x == 3\n"
    (task,) = candidate_tasks(PATH, messy)
    assert task.source == canonical(messy)
    assert task.source.splitlines()[task.lineno - 1] == "def test_a():"


def test_correct_doctest_passes() -> None:
    task = _task(DOCTEST_MODULE, "add")
    result = run_check(task, DOCTEST_MODULE)
    assert result.passed, result.detail


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        ("total = total + b", "total = total - b", "fail"),
        ("total = total + b", "total = undefined_name", "fail"),
        ("return total", "return str(total)", "fail"),
        ("total = total + b", "while True:\n        pass", "timeout"),
    ],
)
def test_wrong_body_fails_the_doctest(old: str, new: str, status: str) -> None:
    task = _task(DOCTEST_MODULE, "add")
    modified = DOCTEST_MODULE.replace(old, new)
    assert modified != DOCTEST_MODULE
    result = run_check(task, modified, timeout_s=1)
    assert result.status == status
    if status == "fail":
        assert "examples failed" in result.detail


def test_doctest_with_no_examples_run_fails() -> None:
    source = canonical('def f(x):\n    """>>> f(1)  # doctest: +SKIP\n    2\n    """\n    y = x + 1\n    return y\n')
    (task,) = candidate_tasks(PATH, source)
    result = run_check(task, source)
    assert result.status == "fail" and "0 of 0" in result.detail


@pytest.mark.parametrize(
    ("body", "passed"),
    [
        ("values = [double(i) for i in range(4)]", True),
        ("values = [double(i) + 1 for i in range(4)]", False),
        ("values = [double(i) for i in range(5)]", False),
    ],
)
def test_test_function_passes_or_fails_with_its_asserts(body: str, passed: bool) -> None:
    task = _task(TEST_MODULE, "test_double")
    modified = TEST_MODULE.replace("values = [double(i) for i in range(4)]", body)
    result = run_check(task, modified)
    assert result.passed is passed
    if not passed:
        assert result.status == "fail" and "AssertionError" in result.detail


def test_module_that_fails_to_import_fails_the_check() -> None:
    task = _task(TEST_MODULE, "test_double")
    result = run_check(task, "raise RuntimeError('import-time failure')\n" + TEST_MODULE)
    assert result.status == "fail" and "import-time failure" in result.detail


def test_check_script_registers_the_module_under_a_derived_name() -> None:
    source = canonical(
        "import sys\n\ndef test_module():\n    me = sys.modules[__name__]\n"
        "    assert __name__ == 'toypkg.maths' and me.test_module is test_module\n"
        "    assert __package__ == 'toypkg'\n"
    )
    task = _task(source, "test_module")
    script = check_script(task, source)
    compile(script, "<check>", "exec")
    assert run_check(task, source).passed


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/usr/lib/python3.11/asyncio/staggered.py", ("asyncio.staggered", "asyncio")),
        ("/usr/lib/python3.11/collections/__init__.py", ("collections", "collections")),
        ("/v/lib/python3.11/site-packages/networkx/tests/test_a.py", ("networkx.tests.test_a", "networkx.tests")),
        ("/usr/lib/python3.11/secrets.py", ("secrets", "")),
        ("some/dir/tool.py", ("tool", "")),
        ("some/pkg/__init__.py", ("pkg", "pkg")),
        ("/x/lib/python3.11/site-packages/bad-name/mod.py", ("checked_module", "")),
    ],
)
def test_module_name(path: str, expected: tuple[str, str]) -> None:
    assert module_name(path) == expected


def test_broken_source_replaces_the_body_but_keeps_the_docstring() -> None:
    task = _task(DOCTEST_MODULE, "add")
    broken = broken_source(task)
    function = next(n for n in ast.parse(broken).body if isinstance(n, ast.FunctionDef) and n.name == "add")
    assert ast.get_docstring(function) == ast.get_docstring(
        next(n for n in ast.parse(DOCTEST_MODULE).body if isinstance(n, ast.FunctionDef) and n.name == "add")
    )
    assert isinstance(function.body[-1], ast.Raise) and len(function.body) == 2
    assert run_check(task, broken).status == "fail"


def test_find_tasks_keeps_passing_candidates_in_order_and_stops_at_limit() -> None:
    failing_doctest = DOCTEST_MODULE.replace("    5\n", "    6\n")
    # Output-only doctest: it never calls the function, so a broken body would pass it too.
    unexercised = canonical('def f(x):\n    """>>> 1 + 1\n    2\n    """\n    y = x + 1\n    return y\n')
    docs = [
        ("/p/lib/python3.11/a.py", failing_doctest),
        ("/p/lib/python3.11/b.py", TEST_MODULE),
        ("/p/lib/python3.11/c.py", "def broken(:\n"),  # does not parse: skipped
        ("/p/lib/python3.11/d.py", unexercised),
        ("/p/lib/python3.11/e.py", DOCTEST_MODULE),
    ]
    tasks = find_tasks(docs)
    assert [(t.path, t.function) for t in tasks] == [
        ("/p/lib/python3.11/b.py", "test_double"),
        ("/p/lib/python3.11/e.py", "add"),
    ]
    assert [t.path for t in find_tasks(docs, require_exercised=False)][1] == "/p/lib/python3.11/d.py"
    assert [t.function for t in find_tasks(docs, limit=1)] == ["test_double"]


def _statistics_mean() -> FunctionalTask:
    import statistics

    path = statistics.__file__
    with open(path, encoding="utf-8") as f:
        source = canonical(f.read())
    (task,) = [t for t in candidate_tasks(path, source) if t.function == "mean"]
    return task


def test_installed_module_gets_the_function_grafted() -> None:
    """An importable module is imported; the function under test replaces the installed one everywhere."""
    task = _statistics_mean()
    assert task.check == "doctest"
    probe = (
        "\nimport statistics\nassert statistics.mean is func and func.__code__.co_filename.endswith('(under test)')\n"
    )
    assert run_sandboxed(check_script(task, task.source) + probe).passed
    assert run_check(task, task.source).passed
    wrong = task.source.replace("return _convert(total / n, T)", "return _convert(total / (n + 1), T)")
    assert wrong != task.source
    assert run_check(task, wrong).status == "fail"
    assert run_check(task, broken_source(task)).status == "fail"
