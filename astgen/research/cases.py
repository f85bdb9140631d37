"""Infill cases shared by both models, and the metrics that score them (no torch).

A case cuts one syntax node (or a run of statements / call arguments) out of a canonical module.  The
AST model sees the module with the hole as a marker name `__astgen_hole_0__` (`astgen.codec.holes` encodes
it as a hole of the right symbol); the token model sees the same module as text: `prefix`, the hole,
`suffix`.  Both answers are scored the same way, on the whole program:

* parse / compile: `ast.parse` and `compile` of the filled module;
* exact match: the filled module's AST equals the original module's (`ast.dump`), so layout
  differences of the token model (quotes, spacing) do not count against it, wrong code does."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from astgen.codec import unparse
from astgen.codec.markers import marker_name
from astgen.codec.source import quiet_compile, quiet_parse

__all__ = [
    "CASE_KINDS",
    "MARKER",
    "InfillCase",
    "cases_in_function",
    "compiles",
    "exact_match",
    "parses",
    "sample_cases",
]

CASE_KINDS = ("expr", "stmt", "body", "arg")
MARKER = marker_name(0)  # the one hole of a case


@dataclass(frozen=True)
class InfillCase:
    """One hole: the canonical module, the module with the marker, and the text split around it."""

    path: str
    kind: str
    original: str
    marked: str
    prefix: str
    middle: str
    suffix: str

    @property
    def depth(self) -> int:
        """Indentation depth of the hole's line (statement grammars are generated per depth)."""
        line = self.prefix[self.prefix.rfind("\n") + 1 :]
        return (len(line) - len(line.lstrip(" "))) // 4

    def filled_text(self, middle: str) -> str:
        return self.prefix + middle + self.suffix

    @cached_property
    def original_dump(self) -> str | None:
        return _tree_dump(self.original)

    def matches(self, filled: str) -> bool:
        """`exact_match(self.original, filled)`, parsing the original once per case, not per system."""
        dump = _tree_dump(filled)
        return dump is not None and dump == self.original_dump


def parses(source: str) -> bool:
    try:
        quiet_parse(source)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def compiles(source: str, filename: str = "<infill>") -> bool:
    try:
        quiet_compile(source, filename)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _tree_dump(source: str) -> str | None:
    try:
        return ast.dump(quiet_parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def exact_match(original: str, filled: str) -> bool:
    """The filled module has exactly the original module's syntax tree."""
    dump = _tree_dump(filled)
    return dump is not None and dump == _tree_dump(original)


def _marker_expr() -> ast.Name:
    return ast.Name(id=MARKER, ctx=ast.Load())


def _candidates(tree: ast.Module, within: ast.AST | None = None) -> dict[str, list[tuple[ast.AST, str, int, int]]]:
    """(parent, field, start, stop) of every hole candidate, by kind; `within` limits them to a subtree."""
    found: dict[str, list[tuple[ast.AST, str, int, int]]] = {k: [] for k in CASE_KINDS}
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstring.update(id(n) for n in ast.walk(node))
    root = within if within is not None else tree
    for node in ast.walk(root):
        if id(node) in in_fstring:
            continue
        for name, value in ast.iter_fields(node):
            if isinstance(value, ast.expr) and not isinstance(value, ast.Starred) and name != "ctx":
                if not isinstance(node, ast.keyword | ast.arg | ast.alias):  # a marker must stay an expression
                    found["expr"].append((node, name, -1, -1))
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt) and node is not root:
                for i in range(len(value)):
                    found["stmt"].append((node, name, i, i + 1))
            if isinstance(value, list) and value and all(isinstance(v, ast.expr) for v in value):
                if isinstance(node, ast.Call) and name == "args":
                    for i in range(len(value)):
                        found["arg"].append((node, name, i, i + 1))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node is not root:
            found["body"].append((node, "body", 0, len(node.body)))
    if within is None:
        found["stmt"].extend((tree, "body", i, i + 1) for i in range(len(tree.body)))
    return found


def _make_case(path: str, original: str, tree: ast.Module, kind: str, cut: tuple[ast.AST, str, int, int]):
    parent, name, lo, hi = cut
    saved = getattr(parent, name)
    if lo < 0:
        setattr(parent, name, _marker_expr())
    elif kind == "arg":
        setattr(parent, name, [*saved[:lo], _marker_expr(), *saved[hi:]])
    else:
        setattr(parent, name, [*saved[:lo], ast.Expr(_marker_expr()), *saved[hi:]])
    try:
        marked = unparse(tree)
    finally:
        setattr(parent, name, saved)
    at = marked.find(MARKER)
    if at < 0 or marked.count(MARKER) != 1:
        return None
    prefix, suffix = marked[:at], marked[at + len(MARKER) :]
    if not original.startswith(prefix) and kind in ("stmt", "body"):
        nl = prefix.rfind("\n")  # a definition is preceded by a blank line in canonical text
        prefix = prefix[:nl] + "\n" + prefix[nl:] if nl >= 0 else "\n" + prefix
    if not (original.startswith(prefix) and original.endswith(suffix)) or len(prefix) + len(suffix) >= len(original):
        return None
    middle = original[len(prefix) : len(original) - len(suffix)]
    return InfillCase(path, kind, original, marked, prefix, middle, suffix)


def sample_cases(
    docs: Sequence[tuple[str, str]],
    per_kind: int,
    seed: int,
    max_middle: int = 400,
    kinds: Sequence[str] = CASE_KINDS,
) -> list[InfillCase]:
    """`per_kind` cases of each kind from random documents (seeded); holes of at most `max_middle` chars."""
    rng = np.random.default_rng(seed)
    out: list[InfillCase] = []
    for kind in kinds:
        made = tries = 0
        while made < per_kind and tries < per_kind * 50:
            tries += 1
            path, text = docs[int(rng.integers(len(docs)))]
            if len(text) > 200_000:
                continue
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError):
                continue
            options = _candidates(tree)[kind]
            if not options:
                continue
            case = _make_case(path, text, tree, kind, options[int(rng.integers(len(options)))])
            if case is None or not case.middle.strip() or len(case.middle) > max_middle:
                continue
            out.append(case)
            made += 1
    return out


def cases_in_function(path: str, text: str, function: str, seed: int, kinds: Iterable[str]) -> list[InfillCase]:
    """One case per kind inside the top-level function `function` (its docstring is kept: a "body"
    case cuts every statement after it)."""
    rng = np.random.default_rng(seed)
    tree = ast.parse(text)
    func = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function), None
    )
    if func is None:
        return []
    first = 1 if ast.get_docstring(func, clean=False) is not None else 0
    out: list[InfillCase] = []
    for kind in kinds:
        options: list[tuple[ast.AST, str, int, int]]
        if kind == "body":
            options = [(func, "body", first, len(func.body))] if len(func.body) > first else []
        else:
            found = _candidates(tree, within=func)[kind]
            if kind == "stmt":
                found = [c for c in found if c[0] is not func or c[2] >= first]
                found += [(func, "body", i, i + 1) for i in range(first, len(func.body))]
            if kind == "expr" and first:  # keep the docstring (it holds the doctest)
                found = [c for c in found if c[0] is not func.body[0]]
            options = found
        for _ in range(10):
            if not options:
                break
            case = _make_case(
                path, text, tree, "stmt" if kind == "body" else kind, options[int(rng.integers(len(options)))]
            )
            if case is not None and case.middle.strip() and len(case.middle) <= 600:
                out.append(
                    InfillCase(case.path, kind, case.original, case.marked, case.prefix, case.middle, case.suffix)
                )
                break
    return out
