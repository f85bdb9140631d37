"""Independent validity oracles for generated source: `ast.parse`, `compile()`, tree-sitter-python."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from astgen.codec.source import quiet_compile, quiet_parse

__all__ = [
    "TREE_SITTER_GAPS",
    "Validity",
    "check_source",
    "tree_sitter_errors",
    "tree_sitter_gap",
    "added_name_reports",
    "undefined_names",
]

# Valid Python that tree-sitter-python (0.25) rejects; documented with minimal examples in
# docs/grammar.md.  Only programs containing one of these are exempt from the tree-sitter check.
TREE_SITTER_GAPS = {
    "starred-sequence-target": "a starred assignment target whose operand is a tuple or list, e.g. `*(a,), = x`",
    "starred-vararg-annotation": "a starred `*args` annotation (PEP 646), which tree-sitter parses only for some "
    "operands: `def f(*a: *1): pass` and `def f(*a: *b.c[0](d)): pass` fail, `def f(*a: *Ts): pass` parses",
    "starred-subscript-literal": "a starred subscript element `x[*X]` (PEP 646) whose operand does not start with a "
    "name (attributes, calls and subscripts of a name are fine), e.g. `x[*1]`, `y = x[*[]]`, `x[*1(a)]`",
    "generic-annotation-operand": "an annotation that starts with `name[...]` followed by anything but `|` or one "
    "attribute, e.g. `def f() -> x[y] + z: pass` (tree-sitter parses `x[y]` as a generic type)",
}


@dataclass(frozen=True)
class Validity:
    parses: bool
    compiles: bool
    tree_sitter_ok: bool
    error: str = ""
    tree_sitter_gap: str | None = None


_NAME_LIKE = (ast.Name, ast.Attribute, ast.Call, ast.Subscript)


def _starts_with_name(node: ast.expr) -> bool:
    """A name, or attributes, calls and subscripts of one (`a.b(c)[d]`), and nothing else."""
    return all(isinstance(n, _NAME_LIKE) for n in _leftmost_chain(node)) and isinstance(
        _leftmost_chain(node)[-1], ast.Name
    )


def _leftmost_chain(node: ast.expr) -> list[ast.expr]:
    """`node`, then the sub-expression that starts its source text, and so on down."""
    chain = [node]
    while True:
        n = chain[-1]
        nxt: ast.expr | None = None
        if isinstance(n, (ast.BinOp, ast.Compare)):
            nxt = n.left
        elif isinstance(n, ast.BoolOp):
            nxt = n.values[0]
        elif isinstance(n, ast.IfExp):
            nxt = n.body
        elif isinstance(n, (ast.Attribute, ast.Subscript)):
            nxt = n.value
        elif isinstance(n, ast.Call):
            nxt = n.func
        if nxt is None:
            return chain
        chain.append(nxt)


def _generic_annotation_gap(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    chain = _leftmost_chain(annotation)
    for i, n in enumerate(chain):
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name):
            above = chain[:i]
            if not above or all(isinstance(a, ast.BinOp) and isinstance(a.op, ast.BitOr) for a in above):
                return False
            return not (len(above) == 1 and isinstance(above[0], ast.Attribute))
    return False


def _annotations(node: ast.AST) -> list[ast.expr | None]:
    if isinstance(node, ast.arg):
        return [node.annotation]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [node.returns]
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    return []


def tree_sitter_gap(tree: ast.AST) -> str | None:
    """The TREE_SITTER_GAPS key of the first known tree-sitter gap in `tree`, if any."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Starred)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, (ast.Tuple, ast.List))
        ):
            return "starred-sequence-target"
        if isinstance(node, ast.arguments) and node.vararg is not None:
            if isinstance(node.vararg.annotation, ast.Starred):
                return "starred-vararg-annotation"
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            for elt in node.slice.elts:
                if isinstance(elt, ast.Starred) and not _starts_with_name(elt.value):
                    return "starred-subscript-literal"
        if any(_generic_annotation_gap(a) for a in _annotations(node)):
            return "generic-annotation-operand"
    return None


@lru_cache(maxsize=1)
def _ts_parser() -> Any:
    import tree_sitter_python
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_python.language()))


def tree_sitter_errors(source: str) -> list[str]:
    """ERROR and MISSING nodes tree-sitter-python reports for `source` (empty list: clean)."""
    tree = _ts_parser().parse(source.encode("utf-8", "surrogatepass"))
    if not tree.root_node.has_error:
        return []
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            kind = "MISSING" if node.is_missing else "ERROR"
            found.append(f"{kind} {node.type} at {node.start_point[0] + 1}:{node.start_point[1] + 1}")
        elif node.has_error:
            stack.extend(node.children)
    return found


def check_source(source: str) -> Validity:
    """Run all three oracles on `source`."""
    try:
        tree = quiet_parse(source)
    except (SyntaxError, ValueError, RecursionError) as e:
        return Validity(False, False, not tree_sitter_errors(source), f"parse: {e}")
    try:
        quiet_compile(tree, "<sample>")
        compiles, err = True, ""
    except (SyntaxError, ValueError, RecursionError) as e:
        compiles, err = False, f"compile: {e}"
    gap = tree_sitter_gap(tree)
    ts = [] if gap else tree_sitter_errors(source)
    if ts and not err:
        err = "tree-sitter: " + "; ".join(ts[:3])
    return Validity(True, compiles, not ts, err, gap)


def undefined_names(source: str, filename: str = "<generated>") -> list[str]:
    """pyflakes' reports of a name used where it is not bound: undefined names (F821) and locals read
    before their assignment (F823), as `line:col: message` (empty for code that does not parse)."""
    from pyflakes import checker, messages

    try:
        tree = quiet_parse(source, filename)
    except SyntaxError:
        return []
    wanted = (messages.UndefinedName, messages.UndefinedLocal)
    found = checker.Checker(tree, filename=filename).messages
    return [
        f"{m.lineno}:{m.col + 1}: {m.message % m.message_args}"
        for m in sorted(found, key=lambda m: (m.lineno, m.col))
        if isinstance(m, wanted)
    ]


def added_name_reports(filled: str, original: str, holed: str) -> tuple[Counter[str], Counter[str]]:
    """The undefined-name reports a fill adds to a file (pyflakes, positions dropped), split in two: those
    the fill's own code causes, and those `holed` (the file with the hole left empty) has too, i.e. names
    the code after the hole reads that the replaced code bound and the fill does not."""

    def reports(source: str) -> Counter[str]:
        return Counter(r.split(": ", 1)[1] for r in undefined_names(source))

    added = reports(filled) - reports(original)
    if not added:
        return Counter(), Counter()
    in_fill = added - reports(holed)
    return in_fill, added - in_fill
