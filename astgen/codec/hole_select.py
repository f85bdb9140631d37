"""Which `...` are holes: every one, except where `...` is idiomatic Python (no torch).

Idiomatic, so not a hole by default:
* inside an annotation or a subscript: `Tuple[int, ...]`, `Callable[..., T]`, `x[..., 0]`;
* a default value: `def f(x=...)`;
* the body of a function decorated with `@overload` or `@abstractmethod` (a stub);
* anything in a class that derives from `Protocol`;
* anything in a `.pyi` stub file.

`all_holes` makes every `...` a hole.  A comment `# astgen: fill` on a line selects holes exactly:
when the source has one, the `...` on such lines are the holes and no others are."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable

__all__ = ["FILL_COMMENT", "is_ellipsis", "select_holes"]

FILL_COMMENT = re.compile(r"#\s*astgen:\s*fill\b")
_STUB_DECORATORS = frozenset({"overload", "abstractmethod", "abstractproperty", "abstractclassmethod"})


def is_ellipsis(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def select_holes(
    tree: ast.Module,
    source: str,
    filename: str = "<source>",
    all_holes: bool = False,
    is_candidate: Callable[[ast.AST], bool] = is_ellipsis,
) -> list[ast.expr]:
    """The candidate nodes (by default the `...` constants) of `tree` that are holes, in source order."""
    candidates = [n for n in ast.walk(tree) if isinstance(n, ast.expr) and is_candidate(n)]
    lines = _fill_comment_lines(source)
    if lines:
        chosen = [n for n in candidates if n.lineno in lines]
    elif all_holes:
        chosen = candidates
    elif filename.endswith(".pyi"):
        chosen = []
    else:
        idiomatic = _idiomatic(tree, is_candidate)
        chosen = [n for n in candidates if id(n) not in idiomatic]
    return sorted(chosen, key=lambda n: (n.lineno, n.col_offset))


def _fill_comment_lines(source: str) -> set[int]:
    """Lines that carry a `# astgen: fill` comment (tokenized, so a string holding the text does not count)."""
    if "astgen:" not in source:
        return set()
    found: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and FILL_COMMENT.search(tok.string):
                found.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):  # the source parsed already; be lenient with odd endings
        pass
    return found


def _name_of(node: ast.expr) -> str:
    """`overload` for `overload`, `typing.overload` and `overload(...)`; "" for anything else."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _idiomatic(tree: ast.Module, is_candidate: Callable[[ast.AST], bool]) -> set[int]:
    """ids of the candidate nodes in idiomatic positions."""
    regions: list[ast.AST] = []  # subtrees whose candidates are all idiomatic
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            regions.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.returns is not None:
                regions.append(node.returns)
            if any(_name_of(d) in _STUB_DECORATORS for d in node.decorator_list):
                regions.extend(s for s in node.body if isinstance(s, ast.Expr) and is_candidate(s.value))
        elif isinstance(node, ast.AnnAssign):
            regions.append(node.annotation)
        elif isinstance(node, ast.Subscript):
            regions.append(node.slice)
        elif isinstance(node, ast.arguments):
            regions.extend(d for d in [*node.defaults, *node.kw_defaults] if d is not None)
        elif isinstance(node, ast.ClassDef) and any(_name_of(b) == "Protocol" for b in node.bases):
            regions.extend(node.body)
    return {id(n) for region in regions for n in ast.walk(region) if is_candidate(n)}
