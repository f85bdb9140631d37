"""Checks that decide whether a filled file is acceptable, for execution-grounded selection.

Every fill compiles, so K samples of a hole are K runnable candidates; a check runs each filled file and
says pass or fail, and the most likely passing candidate is kept (`Generator.infill(samples=K, check=...)`,
`astgen infill --samples K --doctest | --check-cmd CMD`).  A check is bound to one file first (`bind`:
what to run is decided from the file with its holes, before any sampling), then called once per candidate
with the candidate's bytes.  Model-written code runs only in `astgen.sandbox`:

- `DoctestCheck`: the doctest examples of the functions that contain the holes, and of the module docstring;
- `CommandCheck`: a shell command (e.g. `pytest -x tests/test_x.py`) in a temporary copy of the project
  with the filled file in place; exit status 0 passes;
- `CallableCheck`: the caller's own function of the filled source (runs in the caller's process: it is the
  caller's code, not the model's)."""

from __future__ import annotations

import ast
import copy
import doctest
import io
import keyword
import re
import time
import tokenize
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Protocol, TypeVar

from astgen.errors import AstgenError, InvalidOptionError, NoCheckError
from astgen.sandbox import run_command_sandboxed, run_sandboxed

__all__ = [
    "BoundCheck",
    "CallableCheck",
    "Candidate",
    "CheckOutcome",
    "CommandCheck",
    "DoctestCheck",
    "FileCheck",
    "Position",
    "Selection",
    "as_check",
    "hole_functions",
    "module_name",
    "project_root",
    "ranked",
    "select_candidate",
]

_LIBRARY_DIR = re.compile(r"python\d+(\.\d+)?|site-packages|dist-packages")
_FALLBACK_MODULE = "checked_module"
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@dataclass(frozen=True)
class CheckOutcome:
    """One candidate's result: whether it passed, the tail of what the check printed, its wall time."""

    passed: bool
    detail: str = ""
    seconds: float = 0.0


BoundCheck = Callable[[bytes], CheckOutcome]
"""A check bound to one file: the filled file's bytes -> its outcome."""


Position = tuple[int, int]
"""A hole's (line, column) in the source it is bound with, as `ast` counts them (1-based line, 0-based column)."""


class FileCheck(Protocol):
    """Binds to one file: its source with the holes, its name, and where the holes are in that source."""

    def bind(self, holed: str, filename: str, holes: Sequence[Position]) -> BoundCheck: ...


def module_name(path: str) -> tuple[str, str]:
    """A plausible (module name, package) for a file path, so relative imports and reprs work.

    The dotted name below the last `pythonX.Y` / `site-packages` directory (`asyncio/staggered.py` ->
    `asyncio.staggered`, package `asyncio`); otherwise the file's stem (or its directory's, for `__init__.py`)."""
    parts = PurePath(path).parts
    if not parts:
        return _FALLBACK_MODULE, ""
    stem = PurePath(parts[-1]).stem
    marks = [i for i, part in enumerate(parts[:-1]) if _LIBRARY_DIR.fullmatch(part)]
    if marks:
        dotted = [*parts[marks[-1] + 1 : -1], stem]
    else:
        dotted = [parts[-2], stem] if stem == "__init__" and len(parts) > 1 else [stem]
    is_package = dotted[-1] == "__init__"
    if is_package:
        dotted = dotted[:-1]
    if not dotted or not all(p.isidentifier() and not keyword.iskeyword(p) for p in dotted):
        return _FALLBACK_MODULE, ""
    name = ".".join(dotted)
    return name, name if is_package else ".".join(dotted[:-1])


def _import_location(filename: str) -> tuple[str, str, str]:
    """(module name, package, folder for sys.path) under which a file's doctests import it: for a file on
    disk, its dotted name through the enclosing folders that have an `__init__.py` and the folder above
    the top package, so that `from pkg.mod import f` in an example finds the filled module and its
    siblings; otherwise `module_name` and no folder."""
    path = Path(filename)
    if not path.is_file():
        name, package = module_name(filename)
        return name, package, ""
    path = path.resolve()
    parts = [] if path.stem == "__init__" else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.name.isidentifier() and folder != folder.parent:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        name, package = module_name(filename)
        return name, package, str(path.parent)
    name = ".".join(parts)
    package = name if path.stem == "__init__" else ".".join(parts[:-1])
    return name, package, str(folder)


def hole_functions(tree: ast.Module, holes: Sequence[Position]) -> list[str]:
    """Qualified names (`f`, `Class.method`) of the functions that contain the holes, in source order.

    A hole in a function nested inside another function counts for the outermost function reachable by
    attribute access (the nested one cannot be found from the module); holes outside every function add
    nothing (the module docstring covers them)."""
    wanted = set(holes)
    found: list[str] = []

    def walk(node: ast.AST, scope: list[str], reachable: str | None, in_function: bool) -> None:
        at = (getattr(node, "lineno", None), getattr(node, "col_offset", None))
        if isinstance(node, ast.expr) and at in wanted and reachable is not None and reachable not in found:
            found.append(reachable)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = ".".join([*scope, child.name])
                walk(child, [*scope, child.name], reachable if in_function else name, True)
            elif isinstance(child, ast.ClassDef):
                walk(child, [*scope, child.name], reachable, in_function)
            else:
                walk(child, scope, reachable, in_function)

    walk(tree, [], None, False)
    return found


def _examples(docstring: str | None) -> int:
    """How many doctest examples a docstring holds (0 for malformed ones)."""
    if not docstring or ">>>" not in docstring:
        return 0
    try:
        return len(doctest.DocTestParser().get_examples(docstring))
    except ValueError:
        return 0


def _definition(tree: ast.Module, qualname: str) -> ast.AST | None:
    node: ast.AST = tree
    for part in qualname.split("."):
        body = getattr(node, "body", [])
        matches = [
            n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part
        ]
        if not matches:
            return None
        node = matches[-1]  # the definition Python keeps
    return node


# The doctest script; constants (NAME, PACKAGE, PATH, DIRECTORY, TARGETS, SOURCE) are prepended.
_DOCTEST_SCRIPT = """
import doctest
import inspect
import linecache
import sys
import types

if DIRECTORY:
    sys.path.insert(0, DIRECTORY)  # the file's own folder: its sibling modules import as they would
module = types.ModuleType(NAME)
module.__file__ = PATH
module.__package__ = PACKAGE
sys.modules[NAME] = module
text = SOURCE.decode("utf-8", "replace")
linecache.cache[PATH] = (len(text), None, text.splitlines(True), PATH)
exec(compile(SOURCE, PATH, "exec"), module.__dict__)

finder = doctest.DocTestFinder(recurse=False)
runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
tests = list(finder.find(module, NAME, module=module, globs=module.__dict__))
for qualname in TARGETS:
    obj = module
    for part in qualname.split("."):
        obj = inspect.getattr_static(obj, part)
        obj = getattr(obj, "__func__", obj)  # staticmethod / classmethod
    obj = inspect.unwrap(obj) if callable(obj) else obj
    tests.extend(finder.find(obj, NAME + "." + qualname, module=module, globs=module.__dict__))
for test in tests:
    runner.run(test, out=sys.stderr.write)
results = runner.summarize(verbose=False)
attempted = results.attempted - getattr(results, "skipped", 0)
if results.failed or not attempted:
    sys.exit("check: doctest: %d of %d examples failed" % (results.failed, attempted))
print("check: doctest: %d examples passed" % attempted)
"""


@dataclass(frozen=True)
class DoctestCheck:
    """Runs the doctest examples of the functions containing the holes and of the module docstring
    (ELLIPSIS and NORMALIZE_WHITESPACE on); passes when every example ran and none failed."""

    timeout_s: float = 10.0
    memory_mb: int = 1024

    def bind(self, holed: str, filename: str, holes: Sequence[Position]) -> BoundCheck:
        """NoCheckError if neither those functions nor the module docstring hold an example."""
        tree = ast.parse(holed, filename)
        targets = hole_functions(tree, holes)
        counted = [q for q in targets if _examples(_docstring(_definition(tree, q))) > 0]
        module_examples = _examples(ast.get_docstring(tree, clean=True))
        if not counted and not module_examples:
            where = ", ".join(targets) if targets else "no function"
            raise NoCheckError(
                f"{filename}: --doctest has nothing to run: the holes are in {where}, and neither those "
                "functions nor the module docstring have doctest examples (>>> lines)"
            )
        name, package, folder = _import_location(filename)
        constants = {"NAME": name, "PACKAGE": package, "PATH": filename, "DIRECTORY": folder, "TARGETS": counted}
        prefix = "".join(f"{k} = {v!r}\n" for k, v in constants.items())

        def run(data: bytes) -> CheckOutcome:
            script = prefix + f"SOURCE = {data!r}\n" + _DOCTEST_SCRIPT
            result = run_sandboxed(script, timeout_s=self.timeout_s, memory_mb=self.memory_mb)
            return CheckOutcome(result.passed, result.detail, result.seconds)

        if run(_raising(tree, holes).encode()).passed:
            raise NoCheckError(
                f"{filename}: --doctest cannot check these holes: the examples pass even when the code at the "
                "holes raises, so they never run it (an example that imports the function from an installed "
                "copy tests that copy)"
            )
        return run


class _Raise(ast.NodeTransformer):
    """Replaces each hole by code that raises: a statement hole by `raise`, an expression hole by a
    generator's `throw` (an expression that raises)."""

    def __init__(self, holes: set[Position]):
        self.holes = holes

    def _at(self, node: ast.AST) -> bool:
        return (getattr(node, "lineno", None), getattr(node, "col_offset", None)) in self.holes

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if self._at(node.value):
            return ast.Raise(exc=ast.Call(ast.Name("AssertionError", ast.Load()), [ast.Constant("hole")], []))
        return self.generic_visit(node)

    def visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.expr) and self._at(node) and isinstance(node, ast.Constant | ast.Name):
            gen = ast.GeneratorExp(
                ast.Name("_", ast.Load()),
                [ast.comprehension(ast.Name("_", ast.Store()), ast.Tuple([], ast.Load()), [], 0)],
            )
            throw = ast.Attribute(gen, "throw", ast.Load())
            return ast.Call(throw, [ast.Call(ast.Name("AssertionError", ast.Load()), [ast.Constant("hole")], [])], [])
        return super().visit(node)


def _raising(tree: ast.Module, holes: Sequence[Position]) -> str:
    """The module's source with every hole raising when it runs (is the check exercising the holes?)."""
    changed = _Raise(set(holes)).visit(copy.deepcopy(tree))  # a copy keeps the positions `holes` name
    return ast.unparse(ast.fix_missing_locations(changed))


def _docstring(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return ast.get_docstring(node, clean=True)
    return None


def project_root(path: Path) -> Path:
    """The nearest folder at or above `path`'s folder holding pyproject.toml, setup.py, setup.cfg or .git
    (the file's own folder if there is none)."""
    start = path.resolve().parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
            return folder
    return start


@dataclass(frozen=True)
class CommandCheck:
    """Runs `command` with `/bin/sh` in a temporary copy of the project (`project`, default
    `project_root` of the file) with the filled file in place; exit status 0 passes."""

    command: str
    project: str | None = None
    timeout_s: float = 120.0
    memory_mb: int = 4096

    def bind(self, holed: str, filename: str, holes: Sequence[Position]) -> BoundCheck:
        path = Path(filename)
        if not path.is_file():
            raise InvalidOptionError(f"--check-cmd needs a file on disk (it runs in a copy of its project): {filename}")
        root = Path(self.project).resolve() if self.project else project_root(path)
        try:
            relative = path.resolve().relative_to(root)
        except ValueError:
            raise InvalidOptionError(f"{filename} is not inside the check's project folder {root}") from None

        def run(data: bytes) -> CheckOutcome:
            try:
                result = run_command_sandboxed(
                    self.command, root, {str(relative): data}, timeout_s=self.timeout_s, memory_mb=self.memory_mb
                )
            except OSError as e:
                raise AstgenError(f"{filename}: cannot prepare the check's copy of {root}: {e}") from None
            return CheckOutcome(result.passed, result.detail, result.seconds)

        return run


@dataclass(frozen=True)
class CallableCheck:
    """The caller's function of the filled source text; a true result passes.  It runs in the caller's
    process (it is the caller's code; run model-written code from it through `astgen.sandbox`)."""

    function: Callable[[str], object]

    def bind(self, holed: str, filename: str, holes: Sequence[Position]) -> BoundCheck:
        def run(data: bytes) -> CheckOutcome:
            start = time.monotonic()
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)  # a file's coding cookie
            passed = bool(self.function(data.decode(encoding)))
            return CheckOutcome(passed, "", time.monotonic() - start)

        return run


def as_check(check: str | Callable[[str], object] | FileCheck) -> FileCheck:
    """`"doctest"`, a `FileCheck`, or a function of the filled source -> a `FileCheck`."""
    if isinstance(check, str):
        if check == "doctest":
            return DoctestCheck()
        raise InvalidOptionError(f"unknown check {check!r}: use 'doctest', a function of the source, or a FileCheck")
    if hasattr(check, "bind"):
        return check  # type: ignore[return-value]
    if callable(check):
        return CallableCheck(check)
    raise InvalidOptionError(f"check must be 'doctest', a function of the filled source or a FileCheck, got {check!r}")


@dataclass(frozen=True)
class Candidate:
    """One filled file: its bytes, its log-probability, and its check's outcome (None: not checked)."""

    data: bytes
    score: float
    outcome: CheckOutcome | None = None

    @property
    def source(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Selection:
    """The candidates of one file, most likely first, and the one chosen.  `passed` is None without a
    check, else whether the chosen one passed; `message` says what happened, in a line."""

    candidates: tuple[Candidate, ...]
    chosen: Candidate
    passed: bool | None
    message: str


T = TypeVar("T", bound=Hashable)


def ranked(items: Iterable[tuple[T, float]]) -> list[tuple[T, float]]:
    """(value, log-probability) pairs, most likely first, each distinct value once (at its best score);
    ties keep the input order."""
    best: dict[T, float] = {}
    for value, score in items:
        if value not in best or score > best[value]:
            best[value] = score
    return sorted(best.items(), key=lambda kv: -kv[1])


def select_candidate(pairs: Iterable[tuple[bytes, float]], check: BoundCheck | None, filename: str) -> Selection:
    """Pick from (filled file, log-probability) pairs, ranked by `ranked`: without a check the most likely;
    with one, the first that passes in that order (the rest are not run); if none passes, the most likely."""
    candidates = [Candidate(data, score) for data, score in ranked(pairs)]
    if not candidates:
        raise ValueError("no candidate to select from")
    if check is None:
        return Selection(tuple(candidates), candidates[0], None, f"{filename}: most likely of {len(candidates)}")
    for i, candidate in enumerate(candidates):
        checked = Candidate(candidate.data, candidate.score, check(candidate.data))
        candidates[i] = checked
        if checked.outcome is not None and checked.outcome.passed:
            message = f"{filename}: candidate {i + 1} of {len(candidates)} (by likelihood) passed the check"
            return Selection(tuple(candidates), checked, True, message)
    last = candidates[0].outcome.detail.strip().splitlines()[-1:] if candidates[0].outcome else []
    why = f" (most likely: {last[0]})" if last else ""
    message = f"{filename}: none of {len(candidates)} distinct candidates passed the check{why}"
    return Selection(tuple(candidates), candidates[0], False, message)
