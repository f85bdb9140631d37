"""Held-out functions with executable checks, for the infill functional pass rate.

A task is a top-level function of a held-out module that carries its own check: doctest examples in
its docstring, or (for a `test*` function without parameters) its `assert` statements.  The harness cuts
holes in the function's body, lets a model fill them, and runs the check on the filled module in the
sandbox.  Only functions whose original module passes its own check are kept (`find_tasks`), so a
failure measures the infill, not the environment."""

from __future__ import annotations

import ast
import doctest
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from astgen.checks import module_name
from astgen.codec import unparse
from astgen.sandbox import SandboxResult, run_sandboxed

__all__ = [
    "FunctionalTask",
    "candidate_tasks",
    "broken_source",
    "check_script",
    "find_tasks",
    "run_check",
]


@dataclass(frozen=True)
class FunctionalTask:
    """One held-out function and the check that exercises it."""

    path: str  # the original file path (for the report)
    source: str  # canonical module text (ast.unparse output) the function lives in
    function: str  # name of a top-level function (def at module level)
    lineno: int  # line of its `def` in `source` (1-based)
    check: str  # "doctest" or "test"


def _statements_outside_nested_scopes(body: list[ast.stmt]) -> Iterable[ast.AST]:
    """Every node under `body`, not descending into nested functions, lambdas or classes."""
    nested = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
    stack: list[ast.AST] = [node for node in body if not isinstance(node, nested)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, nested))


def _has_doctest(node: ast.FunctionDef) -> bool:
    """Whether the function's docstring holds at least one doctest example."""
    docstring = ast.get_docstring(node, clean=True)
    if not docstring or ">>>" not in docstring:
        return False
    try:
        return bool(doctest.DocTestParser().get_examples(docstring))
    except ValueError:  # malformed examples (inconsistent indentation)
        return False


def _is_test(node: ast.FunctionDef) -> bool:
    """A parameterless `test*` function that asserts in its own body and is not a generator."""
    args = node.args
    if not node.name.startswith("test") or args.posonlyargs or args.args or args.kwonlyargs:
        return False
    if args.vararg or args.kwarg:
        return False
    nodes = list(_statements_outside_nested_scopes(node.body))
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in nodes):
        return False  # calling a generator runs nothing
    return any(isinstance(n, ast.Assert) for n in nodes)


def candidate_tasks(path: str, source: str) -> list[FunctionalTask]:
    """Top-level functions of a module that carry a check and have a body worth cutting holes in.

    `source` is canonicalised (ast.unparse) if it is not already.  A function qualifies with doctest
    examples in its docstring ("doctest"), or as a parameterless `test*` function with an `assert`
    ("test"); either way its body needs two statements besides the docstring.  Names defined twice at
    module level are skipped (the check would run the later definition).  Raises SyntaxError."""
    tree = ast.parse(source, filename=path)
    canonical = unparse(tree)
    if canonical != source:
        tree = ast.parse(canonical, filename=path)
    counts = Counter(
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    )
    tasks: list[FunctionalTask] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or counts[node.name] > 1:
            continue
        has_docstring = ast.get_docstring(node, clean=False) is not None
        if len(node.body) - has_docstring < 2:
            continue
        if _has_doctest(node):
            check = "doctest"
        elif _is_test(node):
            check = "test"
        else:
            continue
        tasks.append(FunctionalTask(path, canonical, node.name, node.lineno, check))
    return tasks


# The check script: constants (PATH, NAME, PACKAGE, IS_PACKAGE, FUNCTION, LINENO, CHECK, SOURCE) are prepended.
_SCRIPT_BODY = """
import importlib
import linecache
import os
import sys
import types

if CHECK == "doctest":
    import doctest  # before the module under test exists (it may shadow a stdlib name)


def same_file(a, b):
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (TypeError, ValueError, OSError):
        return False


def import_installed():
    try:
        found = importlib.import_module(NAME)
    except BaseException:
        return None
    return found if same_file(getattr(found, "__file__", None) or "", PATH) else None


def compile_source(filename):
    linecache.cache[filename] = (len(SOURCE), None, SOURCE.splitlines(True), filename)
    return compile(SOURCE, filename, "exec")


def innermost(obj):
    # The plain function defined in PATH behind decorators and wrappers (functools.wraps, closures, objects).
    todo, seen = [obj], set()
    while todo and len(seen) < 200:
        candidate = todo.pop(0)
        if id(candidate) in seen or isinstance(candidate, (types.ModuleType, type)):
            continue
        seen.add(id(candidate))
        if isinstance(candidate, types.FunctionType):
            code = candidate.__code__
            if code.co_name == FUNCTION and not code.co_freevars and same_file(code.co_filename, PATH):
                return candidate
            for cell in candidate.__closure__ or ():
                try:
                    todo.append(cell.cell_contents)
                except ValueError:
                    pass
        for attribute in ("__wrapped__", "__func__"):
            try:
                todo.append(getattr(candidate, attribute))
            except Exception:
                pass
        namespace = getattr(candidate, "__dict__", None)
        if isinstance(namespace, dict):
            todo.extend(value for value in namespace.values() if callable(value))
    return None


module = import_installed()
if module is not None:
    # The module is importable from PATH: graft the function's code from SOURCE onto the installed function
    # (behind its decorators), so every reference to it (`np.ma.compress_rows`, `nx.voterank`) runs the text
    # under test against the installed module's globals and classes.  Only the function comes from SOURCE.
    code = compile_source(PATH + " (under test)")
    found = [c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == FUNCTION]
    if not found:
        sys.exit("check: %r is not defined at module level" % (FUNCTION,))
    func = getattr(module, FUNCTION, None)
    raw = innermost(func)
    if raw is None:
        sys.exit("check: cannot find the installed function behind %r" % (FUNCTION,))
    raw.__code__ = min(found, key=lambda c: abs(c.co_firstlineno - LINENO))
else:
    # Not importable: the module text runs as a fresh module under its plausible name.
    parent, _, child = NAME.rpartition(".")
    if parent:
        try:
            importlib.import_module(parent)  # as the import system does, the parent package first
        except BaseException:
            pass
    module = types.ModuleType(NAME)
    module.__file__ = PATH
    module.__package__ = PACKAGE
    if IS_PACKAGE:
        module.__path__ = [os.path.dirname(PATH)]
    sys.modules[NAME] = module
    exec(compile_source(PATH), module.__dict__)
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    func = module.__dict__.get(FUNCTION)
if not callable(func):
    sys.exit("check: %r is not a function of the module" % (FUNCTION,))

if CHECK == "doctest":
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(func, NAME + "." + FUNCTION, globs=module.__dict__):
        runner.run(test, out=sys.stderr.write)
    results = runner.summarize(verbose=False)
    failed = results.failed
    attempted = results.attempted - getattr(results, "skipped", 0)  # 3.13 counts skipped examples as attempted
    if failed or not attempted:
        sys.exit("check: doctest: %d of %d examples failed" % (failed, attempted))
else:
    func()
"""


def check_script(task: FunctionalTask, module_source: str) -> str:
    """A script that loads `module_source` as the task's module and runs the task's check.

    If the module is importable from `task.path` (an installed library, the stdlib), it is imported and
    the function's code, compiled from `module_source`, replaces the installed function's code: doctests
    reach functions through package namespaces, and a second copy of the module would have its own
    classes.  Otherwise `module_source` runs as a fresh `types.ModuleType` registered in sys.modules under
    a name derived from the path (`module_name`), compiled with the original path as its filename.
    The script raises (exit status 1 in the sandbox) when the check fails."""
    if task.check not in ("doctest", "test"):
        raise ValueError(f"unknown check {task.check!r}")
    name, package = module_name(task.path)
    constants = {
        "PATH": task.path,
        "NAME": name,
        "PACKAGE": package,
        "IS_PACKAGE": PurePath(task.path).stem == "__init__" and name == package,
        "FUNCTION": task.function,
        "LINENO": task.lineno,
        "CHECK": task.check,
        "SOURCE": module_source,
    }
    return "".join(f"{key} = {value!r}\n" for key, value in constants.items()) + _SCRIPT_BODY


def run_check(task: FunctionalTask, module_source: str, timeout_s: float = 10.0, memory_mb: int = 512) -> SandboxResult:
    """Run the task's check on `module_source` (the module with the function's body possibly filled by a model)."""
    return run_sandboxed(check_script(task, module_source), timeout_s=timeout_s, memory_mb=memory_mb)


def broken_source(task: FunctionalTask) -> str:
    """The task's module with the function's body (past its docstring) replaced by `raise NotImplementedError`."""
    tree = ast.parse(task.source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == task.function and node.lineno == task.lineno:
            keep = node.body[:1] if ast.get_docstring(node, clean=False) is not None else []
            broken = ast.Raise(exc=ast.Call(ast.Name("NotImplementedError", ast.Load()), [], []), cause=None)
            node.body = [*keep, broken]
            return unparse(ast.fix_missing_locations(tree))
    raise ValueError(f"{task.function!r} (line {task.lineno}) is not a top-level function of {task.path}")


def _qualifies(task: FunctionalTask, timeout_s: float, require_exercised: bool) -> bool:
    """Whether the original module passes the task's check (and, for doctests, a broken body fails it)."""
    if not run_check(task, task.source, timeout_s=timeout_s).passed:
        return False
    if require_exercised and task.check == "doctest":
        return run_check(task, broken_source(task), timeout_s=timeout_s).status == "fail"
    return True


def find_tasks(
    docs: Iterable[tuple[str, str]],
    limit: int | None = None,
    timeout_s: float = 10.0,
    progress: bool = False,
    require_exercised: bool = True,
    checks: tuple[str, ...] = ("doctest", "test"),
    per_module: int | None = None,
) -> list[FunctionalTask]:
    """The candidates of `docs` ((path, source) pairs, in order) whose original module passes the check.

    Each candidate runs sequentially in the sandbox; modules that fail to parse, import, or finish in
    time drop out.  With `require_exercised`, a doctest task must also fail once the function's body is
    broken (`broken_source`): a doctest that never reaches the text under test (output-only examples,
    or a copy of the function the graft in `check_script` missed) would pass any infill.  Stops once
    `limit` tasks are found.  `checks` keeps only those kinds of check; `per_module` caps the tasks
    taken from one file (a single test module can otherwise supply most of a small set)."""
    tasks: list[FunctionalTask] = []
    start = time.monotonic()
    seen = 0
    for index, (path, source) in enumerate(docs):
        if limit is not None and len(tasks) >= limit:
            break
        try:
            candidates = candidate_tasks(path, source)
        except (SyntaxError, ValueError, RecursionError):
            continue
        kept = 0
        for task in candidates:
            if limit is not None and len(tasks) >= limit:
                break
            if task.check not in checks or (per_module is not None and kept >= per_module):
                continue
            seen += 1
            if _qualifies(task, timeout_s, require_exercised):
                tasks.append(task)
                kept += 1
        if progress and candidates:
            print(
                f"[{index + 1}] {path}: {kept}/{len(candidates)} pass "
                f"(total {len(tasks)}/{seen}, {time.monotonic() - start:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    return tasks
