"""Fill the `...` holes of a real file and keep every other byte (LibCST).

The file is parsed with LibCST, which keeps comments, blank lines, quotes, line endings, a BOM and
the encoding cookie.  Each hole (an Ellipsis literal, in source order) is renamed to a marker name
`__astgen_hole_<k>__` so that the model's view (the canonical AST) and the file agree on which hole
is which; the model fills them (`Generator.fill_holes`), and only the hole nodes of the original
tree are replaced: statements become LibCST statements formatted to the block's indentation (the
file's own indent unit and newline), expressions are parenthesised where their precedence needs it.

The result is checked before it is returned: it must compile, and the bytes before the first hole
and after the last one must equal the original's."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

import libcst as cst
from libcst.metadata import PositionProvider

from astgen.checks import select_candidate
from astgen.codec.hole_scope import generator_holes
from astgen.codec.hole_select import select_holes
from astgen.codec.holes import no_hole_error
from astgen.codec.markers import marker_index, marker_name
from astgen.codec.source import deep_recursion, quiet_parse
from astgen.codec.text import unparse
from astgen.errors import AstgenError, NoPassingFillError, UnsupportedSourceError
from astgen.grammar.versions import RUNNING
from astgen.refactor.filler import HoleFiller, SamplingConfig

__all__ = ["Span", "fill_file_bytes", "parse_file_bytes", "rewrite_function_bytes", "rewrite_span_bytes"]

_GREEDY = SamplingConfig()

_ATOMS = (
    ast.Name,
    ast.Attribute,
    ast.Call,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.JoinedStr,
)


def parse_file_bytes(data: bytes, filename: str) -> cst.Module:
    """LibCST module of a file's bytes; SourceSyntaxError (file:line:col) or UnsupportedSourceError."""
    from astgen.codec import decode_source_bytes, parse_source

    # Python's own parser first: its messages and line:col are the ones users know
    parse_source(decode_source_bytes(data, filename), filename)
    try:
        module = cst.parse_module(data)
    except cst.ParserSyntaxError as e:  # Python accepted the file (checked above): a LibCST gap
        raise UnsupportedSourceError(
            f"{filename}:{e.raw_line}:{e.raw_column + 1}: LibCST cannot parse this (valid) code, "
            "so astgen leaves the file unchanged"
        ) from None
    except (UnicodeDecodeError, LookupError) as e:
        raise UnsupportedSourceError(f"{filename}: cannot decode the file ({e})") from None
    if module.bytes != data:  # rare LibCST round-trip gaps (e.g. `except X :` loses its space)
        raise UnsupportedSourceError(
            f"{filename}: LibCST cannot reproduce this file byte for byte, so astgen leaves it unchanged"
        )
    return module


class _Numberer(cst.CSTTransformer):
    """Renames every `...` to `__astgen_hole_<k>__` in source order; records statement holes."""

    def __init__(self) -> None:
        self.count = 0

    def leave_Ellipsis(self, original: cst.Ellipsis, updated: cst.Ellipsis) -> cst.Name:
        name = cst.Name(marker_name(self.count), lpar=updated.lpar, rpar=updated.rpar)
        self.count += 1
        return name


def _hole_index(node: cst.CSTNode) -> int | None:
    return marker_index(node.value) if isinstance(node, cst.Name) else None


class _UseModuleDefaults(cst.CSTTransformer):
    """Parsed fill code takes the target file's indent unit and newline (None = the module default)."""

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        return updated.with_changes(indent=None)

    def leave_Newline(self, original: cst.Newline, updated: cst.Newline) -> cst.Newline:
        return updated.with_changes(value=None)


def _needs_parent(fill: ast.expr) -> bool:
    """Fills that only their parent node can place: `*x` (an argument or element) and slices."""
    return isinstance(fill, ast.Starred | ast.Slice) or (
        isinstance(fill, ast.Tuple) and any(isinstance(e, ast.Slice) for e in fill.elts)
    )


def _expr_code(node: ast.expr, target: tuple[int, int]) -> str:
    text = unparse(node, target)
    return text if isinstance(node, _ATOMS) else f"({text})"


class _Splicer(cst.CSTTransformer):
    """Replaces the marker names of the numbered module by the fills (statements or expressions)."""

    def __init__(self, fills: dict[int, list[ast.stmt] | ast.expr], target: tuple[int, int] = RUNNING):
        self.fills = fills
        self.target = target  # the fills are written in this Python version's syntax
        self.used: set[int] = set()

    def _statements(self, k: int) -> list[cst.BaseStatement]:
        fill = self.fills[k]
        if not isinstance(fill, list):
            raise AstgenError(f"hole {k} is a statement hole but was filled with an expression")
        self.used.add(k)
        code = "".join(unparse(s, self.target) + "\n" for s in fill)
        parsed = cst.parse_module(code).visit(_UseModuleDefaults())
        return list(parsed.body)

    def _expression(self, k: int) -> ast.expr:
        fill = self.fills[k]
        if isinstance(fill, list):
            raise AstgenError(f"hole {k} is an expression hole but was filled with statements")
        self.used.add(k)
        return fill

    # -- statements: a line (or one-line suite) whose small statement is a marker expression
    @staticmethod
    def _stmt_hole(small: cst.BaseSmallStatement) -> int | None:
        return _hole_index(small.value) if isinstance(small, cst.Expr) else None

    def _expand(self, body: Sequence[cst.BaseSmallStatement]) -> list[list[cst.BaseSmallStatement] | int]:
        """Runs of ordinary small statements, with statement holes (their index) between them."""
        parts: list[list[cst.BaseSmallStatement] | int] = []
        for small in body:
            k = self._stmt_hole(small)
            if k is not None:
                parts.append(k)
            elif parts and isinstance(parts[-1], list):
                parts[-1].append(small)
            else:
                parts.append([small])
        return parts

    def _replace(self, body: Sequence[cst.BaseSmallStatement]) -> list[cst.BaseStatement] | None:
        """The statements a line's small statements become when some are holes (None: no hole)."""
        parts = self._expand(body)
        if all(isinstance(p, list) for p in parts):
            return None
        out: list[cst.BaseStatement] = []
        for p in parts:
            if isinstance(p, int):
                out.extend(self._statements(p))
            else:  # ordinary small statements keep their line, without a trailing semicolon
                last = p[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
                out.append(cst.SimpleStatementLine(body=[*p[:-1], last]))
        return out

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        out = self._replace(updated.body)
        if out is None:
            return updated
        # comments and blank lines above the hole stay above the new code; a comment beside the hole
        # stays at the end of the last new line, or goes above the new code if that is a block
        first = out[0]
        out[0] = first.with_changes(leading_lines=[*updated.leading_lines, *getattr(first, "leading_lines", [])])
        if isinstance(out[-1], cst.SimpleStatementLine):
            out[-1] = out[-1].with_changes(trailing_whitespace=updated.trailing_whitespace)
        elif updated.trailing_whitespace.comment is not None:
            above = [*getattr(out[0], "leading_lines", []), cst.EmptyLine(comment=updated.trailing_whitespace.comment)]
            out[0] = out[0].with_changes(leading_lines=above)
        return cst.FlattenSentinel(out)

    def leave_SimpleStatementSuite(
        self, original: cst.SimpleStatementSuite, updated: cst.SimpleStatementSuite
    ) -> cst.BaseSuite:
        body = self._replace(updated.body)
        if body is None:
            return updated
        return cst.IndentedBlock(body=body, header=updated.trailing_whitespace)

    # -- expressions
    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        k = _hole_index(updated.value)
        if k is None or updated.star or updated.keyword is not None:
            return updated
        fill = self._expression(k)
        if isinstance(fill, ast.Starred):
            return updated.with_changes(star="*", value=cst.parse_expression(_expr_code(fill.value, self.target)))
        return updated.with_changes(value=cst.parse_expression(_expr_code(fill, self.target)))

    def leave_Element(self, original: cst.Element, updated: cst.Element) -> cst.BaseElement:
        k = _hole_index(updated.value)
        if k is None:
            return updated
        fill = self._expression(k)
        if isinstance(fill, ast.Starred):
            return cst.StarredElement(
                value=cst.parse_expression(_expr_code(fill.value, self.target)), comma=updated.comma
            )
        return updated.with_changes(value=cst.parse_expression(_expr_code(fill, self.target)))

    def leave_SubscriptElement(self, original: cst.SubscriptElement, updated: cst.SubscriptElement) -> Any:
        if not isinstance(updated.slice, cst.Index):
            return updated
        k = _hole_index(updated.slice.value)
        if k is None:
            return updated
        fill = self._expression(k)
        probe = cst.parse_expression(f"_[{unparse(fill, self.target)}]")
        if not isinstance(probe, cst.Subscript):  # pragma: no cover - the probe is a subscript by construction
            raise AstgenError("could not place a slice")
        if len(probe.slice) == 1:
            return updated.with_changes(slice=probe.slice[0].slice)
        return updated.with_changes(slice=cst.Index(value=cst.parse_expression(f"({unparse(fill, self.target)})")))

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        k = _hole_index(updated)
        if k is None or k in self.used or k not in self.fills:
            return updated
        fill = self.fills[k]
        if isinstance(fill, list) or _needs_parent(fill):
            return updated
        node = cst.parse_expression(_expr_code(self._expression(k), self.target))
        if updated.lpar:  # the hole's own parentheses stay
            node = node.with_changes(lpar=[*updated.lpar, *node.lpar], rpar=[*node.rpar, *updated.rpar])
        return node


def fill_file_bytes(
    gen: HoleFiller,
    data: bytes,
    filename: str = "<file>",
    sampling: SamplingConfig = _GREEDY,
    all_holes: bool = False,
) -> bytes:
    """The bytes of the file with its `...` holes filled by `gen` (e.g. a Generator); nothing else changes.
    The holes are the `...` that `astgen.codec.hole_select` picks (idiomatic ones stay), or every one.

    Raises SourceSyntaxError, UnsupportedSourceError, NoHoleError, InfillError, or AstgenError if the
    spliced result would not compile (nothing is returned then)."""
    module = parse_file_bytes(data, filename)
    numberer = _Numberer()
    numbered = module.visit(numberer)
    if numberer.count == 0:
        raise no_hole_error(filename)
    tree = quiet_parse(numbered.code, filename)
    holes = select_holes(tree, numbered.code, filename, all_holes, _is_marker)
    chosen = {k for n in holes if isinstance(n, ast.Name) and (k := marker_index(n.id)) is not None}
    if not chosen:
        raise no_hole_error(filename, numberer.count)
    if len(chosen) < numberer.count:
        numbered = numbered.visit(_Unnumber(chosen))
    return _fill_numbered(gen, numbered, filename, sampling)


def _is_marker(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and marker_index(node.id) is not None


class _Unnumber(cst.CSTTransformer):
    """Turns the marker names that are not chosen holes back into `...` (with their parentheses)."""

    def __init__(self, chosen: set[int]):
        self.chosen = chosen

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        k = marker_index(updated.value)
        if k is None or k in self.chosen:
            return updated
        return cst.Ellipsis(lpar=updated.lpar, rpar=updated.rpar)


class _FunctionHoles(cst.CSTTransformer):
    """Replaces the body of every function whose qualified name is `name` by one statement hole
    (a docstring, if any, stays as context)."""

    def __init__(self, name: str):
        self.name = name
        self.scope: list[str] = []
        self.count = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scope.append(node.name.value)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.scope.pop()
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scope.append(node.name.value)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        qualname = ".".join(self.scope)
        self.scope.pop()
        if qualname != self.name:
            return updated
        hole = cst.SimpleStatementLine(body=[cst.Expr(cst.Name(marker_name(self.count)))])
        self.count += 1
        body = updated.body
        if isinstance(body, cst.IndentedBlock):
            first = body.body[0] if body.body else None
            keep = [first] if first is not None and _is_docstring(first) else []
            return updated.with_changes(body=body.with_changes(body=[*keep, hole]))
        header = body.trailing_whitespace if isinstance(body, cst.SimpleStatementSuite) else cst.TrailingWhitespace()
        return updated.with_changes(body=cst.IndentedBlock(body=[hole], header=header))


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def rewrite_function_bytes(
    gen: HoleFiller, data: bytes, name: str, filename: str = "<file>", sampling: SamplingConfig = _GREEDY
) -> bytes:
    """Regenerate the body of the one function `name` names — `f` a module-level function, `Class.f` a
    method, `f.g` a function nested in `f` — and keep all else.  A name that matches no definition or
    several (overloads, redefinitions) is refused with the candidates and their lines."""
    module = parse_file_bytes(data, filename)
    defs = _definitions(quiet_parse(module.code, filename))
    exact = [line for qualname, line in defs if qualname == name]
    if len(exact) != 1:
        last = name.rsplit(".", 1)[-1]
        similar = ", ".join(f"{q} (line {line})" for q, line in defs if q.rsplit(".", 1)[-1] == last)
        if not exact:
            hint = f"; definitions of that name: {similar}" if similar else ""
            raise AstgenError(
                f"{filename}: no function named {name!r} (`f` is a module-level function, `Class.f` a method){hint}"
            )
        lines = ", ".join(str(line) for line in exact)
        raise AstgenError(
            f"{filename}: {len(exact)} definitions of {name!r} (lines {lines}); rewrite one with --span instead"
        )
    numbered = module.visit(_FunctionHoles(name))
    return _fill_numbered(gen, numbered, filename, sampling, module)


def _definitions(tree: ast.Module) -> list[tuple[str, int]]:
    """(qualified name, line) of every function definition: `f`, `Class.f`, `f.inner` (a definition in an
    if/try/with/loop block belongs to the enclosing scope, as `_FunctionHoles` counts it)."""
    out: list[tuple[str, int]] = []

    def walk(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((scope + child.name, child.lineno))
                walk(child, f"{scope}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{scope}{child.name}.")
            elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                walk(child, scope)

    walk(tree, "")
    return out


Span = tuple[int, int, int, int]  # start line, start column, end line, end column (1-based, inclusive)


def _covers(pos: Any, span: Span) -> bool:
    (l1, c1, l2, c2) = span
    start, end = pos.start, pos.end
    return (start.line, start.column + 1) <= (l1, c1) and (l2, c2) <= (end.line, end.column)


class _SpanHole(cst.CSTTransformer):
    """Turns one chosen node (by identity) into a hole marker: an expression or a statement."""

    def __init__(self, target: cst.CSTNode):
        self.target = target
        self.done = False

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> Any:
        if original is not self.target:
            return updated
        self.done = True
        if isinstance(original, cst.BaseExpression):
            return cst.Name(marker_name(0), lpar=getattr(updated, "lpar", ()), rpar=getattr(updated, "rpar", ()))
        hole = cst.SimpleStatementLine(
            body=[cst.Expr(cst.Name(marker_name(0)))], leading_lines=getattr(updated, "leading_lines", ())
        )
        if isinstance(original, cst.BaseSmallStatement):
            return cst.Expr(
                cst.Name(marker_name(0)), semicolon=getattr(updated, "semicolon", cst.MaybeSentinel.DEFAULT)
            )
        return hole


def rewrite_span_bytes(
    gen: HoleFiller, data: bytes, span: Span, filename: str = "<file>", sampling: SamplingConfig = _GREEDY
) -> bytes:
    """Regenerate the smallest expression (in a readable position) or statement covering `span`."""
    module = parse_file_bytes(data, filename)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    last = len(module.code.splitlines()) or 1
    if not (1 <= span[0] <= span[2] <= last) or span[1] < 1 or span[3] < 1:
        raise AstgenError(f"{filename}: span {_span_text(span)} is outside the file (lines 1-{last})")
    covering = [
        n
        for n, pos in positions.items()
        if isinstance(
            n, cst.BaseExpression | cst.BaseSmallStatement | cst.BaseCompoundStatement | cst.SimpleStatementLine
        )
        and _covers(pos, span)
    ]
    covering.sort(key=lambda n: _size(positions[n]))
    for node in covering:
        candidate = module.visit(_SpanHole(node))
        if _readable_hole(candidate.code):
            return _fill_numbered(gen, candidate, filename, sampling, module)
    raise AstgenError(f"{filename}: no statement or expression covers {_span_text(span)}")


def _span_text(span: Span) -> str:
    return f"{span[0]}:{span[1]}-{span[2]}:{span[3]}"


def _size(pos: Any) -> tuple[int, int]:
    return (pos.end.line - pos.start.line, pos.end.column - pos.start.column)


def _readable_hole(code: str) -> bool:
    """Does the marked code parse with the marker as a loaded value (not a target, name or keyword)?"""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == marker_name(0)]
    return len(found) == 1 and isinstance(found[0].ctx, ast.Load)


def _fill_numbered(
    gen: HoleFiller, numbered: cst.Module, filename: str, sampling: SamplingConfig, original: cst.Module | None = None
) -> bytes:
    """Fill the marker holes of `numbered` and splice the fills in; checks that the result compiles.
    With the `original` module of a rewrite, a fill keeps its function a generator if it was one."""
    generators = (
        generator_holes(quiet_parse(original.code, filename), quiet_parse(numbered.code, filename)) if original else []
    )
    options: dict[str, Any] = {
        "filename": filename,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seed": sampling.seed,
        "max_actions": sampling.max_actions,
        "markers": True,
        "generators": generators,
        "target_version": sampling.target_version,
    }
    if sampling.samples == 1 and sampling.check is None:
        return _splice_fills(numbered, gen.fill_holes(numbered.code, **options), filename, sampling.target_version)
    return _select(gen, numbered, filename, sampling, options)


def _select(
    gen: HoleFiller, numbered: cst.Module, filename: str, sampling: SamplingConfig, options: dict[str, Any]
) -> bytes:
    """Sample `sampling.samples` fillings, splice each, and return the most likely one that passes the
    check (bound before any sampling); NoPassingFillError carries the most likely one if none passes."""
    bound = None
    if sampling.check is not None:
        tree = quiet_parse(numbered.code, filename)
        holes = [(n.lineno, n.col_offset) for n in ast.walk(tree) if isinstance(n, ast.Name) and _is_marker(n)]
        bound = sampling.check.bind(numbered.code, filename, holes)
    spliced: list[tuple[bytes, float]] = []
    failures: list[str] = []
    for fills, score in gen.fill_candidates(numbered.code, sampling.samples, **options):
        try:
            spliced.append((_splice_fills(numbered, fills, filename, sampling.target_version), score))
        except AstgenError as e:
            failures.append(str(e))
    if not spliced:
        raise AstgenError(failures[0] if failures else f"{filename}: no candidate filling")
    selection = select_candidate(spliced, bound, filename)
    if selection.passed is False:
        raise NoPassingFillError(selection.message, selection.chosen.data)
    return selection.chosen.data


def _splice_fills(
    numbered: cst.Module, fills: dict[int, list[ast.stmt] | ast.expr], filename: str, target: tuple[int, int]
) -> bytes:
    """The numbered module with its marker holes replaced by `fills`; AstgenError unless it compiles."""
    splicer = _Splicer(fills, target)
    out = numbered.visit(splicer)
    missing = set(fills) - splicer.used
    if missing:
        raise AstgenError(f"{filename}: hole {min(missing)} could not be placed back into the file")
    new = out.bytes
    try:
        with deep_recursion():
            compile(new, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        raise AstgenError(f"{filename}: the filled file would not compile ({e}); it was left unchanged") from None
    return new
