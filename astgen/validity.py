"""Independent validity oracles for generated source: `ast.parse`, `compile()`, tree-sitter-python."""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["TREE_SITTER_GAPS", "Validity", "check_source", "tree_sitter_gap", "tree_sitter_errors"]

# Valid Python that tree-sitter-python (0.25) rejects; documented with minimal examples in
# docs/grammar.md.  Only programs containing one of these are exempt from the tree-sitter check.
TREE_SITTER_GAPS = {
    "starred-sequence-target": "a starred assignment target whose operand is a tuple or list, e.g. `*(a,), = x`",
    "starred-vararg-annotation": "a `*args` annotation `*X` where X is not a name, attribute, subscript or call, "
    "e.g. `def f(*a: *1): pass`",
}
_TS_STAR_OPERANDS = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)


@dataclass(frozen=True)
class Validity:
    parses: bool
    compiles: bool
    tree_sitter_ok: bool
    error: str = ""
    tree_sitter_gap: str | None = None


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
            ann = node.vararg.annotation
            if isinstance(ann, ast.Starred) and not isinstance(ann.value, _TS_STAR_OPERANDS):
                return "starred-vararg-annotation"
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError) as e:
        return Validity(False, False, not tree_sitter_errors(source), f"parse: {e}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(tree, "<sample>", "exec")
        compiles, err = True, ""
    except (SyntaxError, ValueError, RecursionError) as e:
        compiles, err = False, f"compile: {e}"
    gap = tree_sitter_gap(tree)
    ts = [] if gap else tree_sitter_errors(source)
    if ts and not err:
        err = "tree-sitter: " + "; ".join(ts[:3])
    return Validity(True, compiles, not ts, err, gap)
