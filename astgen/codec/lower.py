# typeshed types each ast node constructor precisely; lifting builds nodes generically from grammar
# trees, so these checks are relaxed for this module only.
# mypy: disable-error-code="arg-type,call-overload,misc,attr-defined,union-attr"
"""Lowering Python `ast` trees to grammar trees (`GNode`): ast -> tree.

This is where Python's AST is refined for the grammar: parallel lists are zipped (Dict, Compare,
defaults), operators are fused into their constructors, `ctx` and other derivable fields are
dropped, constants are split by type, and choices that compile() depends on (async generator or
not, bare handler last, simple annotation) become distinct constructors.  `astgen.codec.lift` is
the inverse."""

from __future__ import annotations

import ast
from collections.abc import Callable

from astgen.codec.gnode import CONVERSIONS, GNode, GValue
from astgen.errors import GrammarError, UnsupportedSourceError
from astgen.grammar.lexical import FEXPR_SAFE
from astgen.grammar.versions import RUNNING, version_text

__all__ = ["ENCODED_FIELDS", "UNENCODED_FIELDS", "lower"]

# Every node type the lowering reads, with the fields it encodes (Python 3.11 to 3.13).  A node of
# another type, or a non-empty field not listed here, is refused before lowering: nothing is dropped
# silently.  `ctx` is derived again by the lift; type comments are not part of the canonical form.
ENCODED_FIELDS: dict[str, tuple[str, ...]] = {
    "AnnAssign": ("target", "annotation", "value", "simple"),
    "Assert": ("test", "msg"),
    "Assign": ("targets", "value"),
    "AsyncFor": ("target", "iter", "body", "orelse"),
    "AsyncFunctionDef": ("name", "args", "body", "decorator_list", "returns", "type_params"),
    "AsyncWith": ("items", "body"),
    "Attribute": ("value", "attr"),
    "AugAssign": ("target", "op", "value"),
    "Await": ("value",),
    "BinOp": ("left", "op", "right"),
    "BoolOp": ("op", "values"),
    "Call": ("func", "args", "keywords"),
    "ClassDef": ("name", "bases", "keywords", "body", "decorator_list", "type_params"),
    "Compare": ("left", "ops", "comparators"),
    "Constant": ("value", "kind"),
    "Delete": ("targets",),
    "Dict": ("keys", "values"),
    "DictComp": ("key", "value", "generators"),
    "ExceptHandler": ("type", "name", "body"),
    "Expr": ("value",),
    "For": ("target", "iter", "body", "orelse"),
    "FormattedValue": ("value", "conversion", "format_spec"),
    "FunctionDef": ("name", "args", "body", "decorator_list", "returns", "type_params"),
    "GeneratorExp": ("elt", "generators"),
    "Global": ("names",),
    "If": ("test", "body", "orelse"),
    "IfExp": ("test", "body", "orelse"),
    "Import": ("names",),
    "ImportFrom": ("module", "names", "level"),
    "JoinedStr": ("values",),
    "Lambda": ("args", "body"),
    "List": ("elts",),
    "ListComp": ("elt", "generators"),
    "Match": ("subject", "cases"),
    "MatchAs": ("pattern", "name"),
    "MatchClass": ("cls", "patterns", "kwd_attrs", "kwd_patterns"),
    "MatchMapping": ("keys", "patterns", "rest"),
    "MatchOr": ("patterns",),
    "MatchSequence": ("patterns",),
    "MatchSingleton": ("value",),
    "MatchStar": ("name",),
    "MatchValue": ("value",),
    "Module": ("body",),
    "Name": ("id",),
    "NamedExpr": ("target", "value"),
    "Nonlocal": ("names",),
    "Raise": ("exc", "cause"),
    "Return": ("value",),
    "Set": ("elts",),
    "SetComp": ("elt", "generators"),
    "Slice": ("lower", "upper", "step"),
    "Starred": ("value",),
    "Subscript": ("value", "slice"),
    "Try": ("body", "handlers", "orelse", "finalbody"),
    "TryStar": ("body", "handlers", "orelse", "finalbody"),
    "Tuple": ("elts",),
    "TypeAlias": ("name", "type_params", "value"),
    "TypeVar": ("name", "bound", "default_value"),
    "ParamSpec": ("name", "default_value"),
    "TypeVarTuple": ("name", "default_value"),
    "UnaryOp": ("op", "operand"),
    "While": ("test", "body", "orelse"),
    "With": ("items", "body"),
    "Yield": ("value",),
    "YieldFrom": ("value",),
    "alias": ("name", "asname"),
    "arg": ("arg", "annotation"),
    "arguments": ("posonlyargs", "args", "vararg", "kwonlyargs", "kw_defaults", "kwarg", "defaults"),
    "comprehension": ("target", "iter", "ifs", "is_async"),
    "keyword": ("arg", "value"),
    "match_case": ("pattern", "guard", "body"),
    "withitem": ("context_expr", "optional_vars"),
}
UNENCODED_FIELDS = frozenset({"ctx", "type_comment", "type_ignores"})


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _float_text(value: float) -> bytes:
    return b"inf" if value == float("inf") else repr(value).encode()


# ----------------------------------------------------------------------------------------- lower


class _Lowerer:
    def __init__(self, generators: frozenset[str] = frozenset()):
        self.yield_holes = generators
        # where we are in f-strings, as the grammar's flags say: 0 outside, 1 in a replacement field
        # (`fstr`), 2 in one of an f-string nested in a replacement field (`fstr2`)
        self.fmode = 0

    def module(self, node: ast.Module) -> GNode:
        body = list(node.body)
        items: list[GValue] = []
        i = 0
        if body and _is_docstring(body[0]):
            value = body[0].value  # type: ignore[attr-defined]
            items.append(GNode("Docstring", {"value": self.constant(value)}))
            i = 1
        while i < len(body) and _is_future(body[i]):
            assert isinstance(body[i], ast.ImportFrom)
            items.append(GNode("FutureImport", {"names": [self.alias(a) for a in body[i].names]}))  # type: ignore[union-attr]
            i += 1
        items.extend(self.stmt(s) for s in body[i:])
        return GNode("Module", {"body": items})

    def body(self, stmts: list[ast.stmt]) -> GNode:
        """Leading global/nonlocal declarations (keeping at least one statement) are a field of their own."""
        n = 0
        while n < len(stmts) - 1 and isinstance(stmts[n], (ast.Global, ast.Nonlocal)):
            n += 1
        return GNode("Body", {"decls": self.stmts(stmts[:n]), "stmts": self.stmts(stmts[n:])})

    def stmts(self, stmts: list[ast.stmt]) -> list[GValue]:
        return [self.stmt(s) for s in stmts]

    def stmt(self, n: ast.stmt) -> GNode:
        method: Callable[[ast.stmt], GNode] | None = getattr(self, "s_" + type(n).__name__, None)
        if method is None:
            raise GrammarError(f"line {getattr(n, 'lineno', '?')}: unsupported statement {type(n).__name__}")
        return method(n)

    def opt(self, n: ast.expr | None) -> GNode | None:
        return None if n is None else self.expr(n)

    def exprs(self, ns: list[ast.expr]) -> list[GValue]:
        return [self.expr(x) for x in ns]

    # statements
    def _funcdef(self, n: ast.FunctionDef | ast.AsyncFunctionDef, ctor: str) -> GNode:
        params = getattr(n, "type_params", None)  # Python 3.12+: `def f[T](x: T)`
        return GNode(
            ctor + "T" if params else ctor,
            {
                "decorator_list": self.exprs(n.decorator_list),
                "name": _b(n.name),
                **({"type_params": [self.type_param(p) for p in params]} if params else {}),
                "args": self.arguments(n.args, is_lambda=False),
                "returns": self.opt(n.returns),
                "body": self.body(n.body),
            },
        )

    def type_param(self, p: ast.AST) -> GNode:
        """A PEP 695 type parameter; with a PEP 696 default (3.13) its `...Default` constructor."""
        kind = type(p).__name__
        default = getattr(p, "default_value", None)
        fields: dict[str, GValue] = {"name": _b(p.name)}
        if kind == "TypeVar":
            fields["bound"] = self.opt(p.bound)
        if default is not None:
            fields["default_value"] = self.expr(default)
            kind += "Default"
        return GNode(kind, fields)

    def s_TypeAlias(self, n: ast.AST) -> GNode:
        return GNode(
            "TypeAlias",
            {
                "name": _b(n.name.id),
                "type_params": [self.type_param(p) for p in n.type_params],
                "value": self.expr(n.value),
            },
        )

    def s_FunctionDef(self, n: ast.FunctionDef) -> GNode:
        return self._funcdef(n, "FunctionDef")

    def s_AsyncFunctionDef(self, n: ast.AsyncFunctionDef) -> GNode:
        return self._funcdef(n, "AsyncGenDef" if _is_generator(n, self.yield_holes) else "AsyncFunctionDef")

    def s_ClassDef(self, n: ast.ClassDef) -> GNode:
        params = getattr(n, "type_params", None)
        return GNode(
            "ClassDefT" if params else "ClassDef",
            {
                "decorator_list": self.exprs(n.decorator_list),
                "name": _b(n.name),
                **({"type_params": [self.type_param(p) for p in params]} if params else {}),
                "bases": self.exprs(n.bases),
                "keywords": [self.keyword(k) for k in n.keywords],
                "body": self.body(n.body),
            },
        )

    def s_Return(self, n: ast.Return) -> GNode:
        return GNode("Return", {"value": self.opt(n.value)})

    def s_Delete(self, n: ast.Delete) -> GNode:
        return GNode("Delete", {"targets": self.exprs(n.targets)})

    def s_Assign(self, n: ast.Assign) -> GNode:
        return GNode("Assign", {"targets": self.exprs(n.targets), "value": self.expr(n.value)})

    def s_AugAssign(self, n: ast.AugAssign) -> GNode:
        return GNode("AugAssign_" + type(n.op).__name__, {"target": self.expr(n.target), "value": self.expr(n.value)})

    def s_AnnAssign(self, n: ast.AnnAssign) -> GNode:
        fields: dict[str, GValue] = {"annotation": self.expr(n.annotation), "value": self.opt(n.value)}
        if isinstance(n.target, ast.Name):
            fields["target"] = _b(n.target.id)
            return GNode("AnnAssignName" if n.simple else "AnnAssignParen", fields)
        fields["target"] = self.expr(n.target)
        return GNode("AnnAssign" if n.value is not None else "AnnAssignDecl", fields)

    def _for(self, n: ast.For | ast.AsyncFor, ctor: str) -> GNode:
        return GNode(
            ctor,
            {
                "target": self.expr(n.target),
                "iter": self.expr(n.iter),
                "body": self.stmts(n.body),
                "orelse": self.stmts(n.orelse),
            },
        )

    def s_For(self, n: ast.For) -> GNode:
        return self._for(n, "For")

    def s_AsyncFor(self, n: ast.AsyncFor) -> GNode:
        return self._for(n, "AsyncFor")

    def s_While(self, n: ast.While) -> GNode:
        return GNode("While", {"test": self.expr(n.test), "body": self.stmts(n.body), "orelse": self.stmts(n.orelse)})

    def s_If(self, n: ast.If) -> GNode:
        return GNode("If", {"test": self.expr(n.test), "body": self.stmts(n.body), "orelse": self.stmts(n.orelse)})

    def _with(self, n: ast.With | ast.AsyncWith, ctor: str) -> GNode:
        items: list[GValue] = [
            GNode("withitem", {"context_expr": self.expr(i.context_expr), "optional_vars": self.opt(i.optional_vars)})
            for i in n.items
        ]
        return GNode(ctor, {"items": items, "body": self.stmts(n.body)})

    def s_With(self, n: ast.With) -> GNode:
        return self._with(n, "With")

    def s_AsyncWith(self, n: ast.AsyncWith) -> GNode:
        return self._with(n, "AsyncWith")

    def s_Match(self, n: ast.Match) -> GNode:
        cases: list[GValue] = [
            GNode(
                "match_case",
                {"pattern": self.pattern(c.pattern), "guard": self.opt(c.guard), "body": self.stmts(c.body)},
            )
            for c in n.cases
        ]
        return GNode("Match", {"subject": self.expr(n.subject), "cases": cases})

    def s_Raise(self, n: ast.Raise) -> GNode:
        if n.exc is None:
            if n.cause is not None:
                raise GrammarError("raise with a cause but no exception")
            return GNode("RaiseBare")
        return GNode("Raise", {"exc": self.expr(n.exc), "cause": self.opt(n.cause)})

    def handler(self, h: ast.ExceptHandler) -> GNode:
        if h.type is None:
            return GNode("ExceptHandlerBare", {"body": self.stmts(h.body)})
        return GNode(
            "ExceptHandler",
            {
                "type": self.expr(h.type),
                "name": None if h.name is None else _b(h.name),
                "body": self.stmts(h.body),
            },
        )

    def s_Try(self, n: ast.Try) -> GNode:
        if not n.handlers:
            return GNode("TryFinally", {"body": self.stmts(n.body), "finalbody": self.stmts(n.finalbody)})
        handlers: list[GValue] = [self.handler(h) for h in n.handlers]  # type: ignore[arg-type]
        ctor = "TryBare" if n.handlers[-1].type is None else "Try"
        return GNode(
            ctor,
            {
                "body": self.stmts(n.body),
                "handlers": handlers,
                "orelse": self.stmts(n.orelse),
                "finalbody": self.stmts(n.finalbody),
            },
        )

    def s_TryStar(self, n: ast.TryStar) -> GNode:
        return GNode(
            "TryStar",
            {
                "body": self.stmts(n.body),
                "handlers": [self.handler(h) for h in n.handlers],  # type: ignore[arg-type]
                "orelse": self.stmts(n.orelse),
                "finalbody": self.stmts(n.finalbody),
            },
        )

    def s_Assert(self, n: ast.Assert) -> GNode:
        return GNode("Assert", {"test": self.expr(n.test), "msg": self.opt(n.msg)})

    def alias(self, a: ast.alias) -> GNode:
        return GNode("alias", {"name": _b(a.name), "asname": None if a.asname is None else _b(a.asname)})

    def s_Import(self, n: ast.Import) -> GNode:
        return GNode("Import", {"names": [self.alias(a) for a in n.names]})

    def s_ImportFrom(self, n: ast.ImportFrom) -> GNode:
        dots: list[GValue] = [GNode("Dot") for _ in range(n.level or 0)]
        star = len(n.names) == 1 and n.names[0].name == "*"
        fields: dict[str, GValue] = {"level": dots}
        if n.module is not None:
            fields["module"] = _b(n.module)
        if not star:
            fields["names"] = [self.alias(a) for a in n.names]
        if star:
            return GNode("ImportStar" if n.module is not None else "ImportStarDots", fields)
        return GNode("ImportFrom" if n.module is not None else "ImportFromDots", fields)

    def s_Global(self, n: ast.Global) -> GNode:
        return GNode("Global", {"names": [_b(x) for x in n.names]})

    def s_Nonlocal(self, n: ast.Nonlocal) -> GNode:
        return GNode("Nonlocal", {"names": [_b(x) for x in n.names]})

    def s_Expr(self, n: ast.Expr) -> GNode:
        if _is_docstring(n):
            assert isinstance(n.value, ast.Constant)
            return GNode("Expr", {"value": self.constant(n.value)})
        return GNode("Expr", {"value": self.expr(n.value)})

    def s_Pass(self, n: ast.Pass) -> GNode:
        return GNode("Pass")

    def s_Break(self, n: ast.Break) -> GNode:
        return GNode("Break")

    def s_Continue(self, n: ast.Continue) -> GNode:
        return GNode("Continue")

    # parameters
    def arguments(self, a: ast.arguments, *, is_lambda: bool) -> GNode:
        positional = a.posonlyargs + a.args
        first_default = len(positional) - len(a.defaults)

        def param(p: ast.arg, index: int) -> GNode:
            fields: dict[str, GValue] = {"arg": _b(p.arg), "annotation": self.opt(p.annotation)}
            if index >= first_default:
                fields["default"] = self.expr(a.defaults[index - first_default])
                return GNode("ArgDefault", fields)
            return GNode("arg", fields)

        posonly: list[GValue] = [param(p, i) for i, p in enumerate(a.posonlyargs)]
        args: list[GValue] = [param(p, i + len(a.posonlyargs)) for i, p in enumerate(a.args)]
        kwonly: list[GValue] = [
            GNode("ArgDefault", {"arg": _b(p.arg), "annotation": self.opt(p.annotation), "default": self.opt(d)})
            for p, d in zip(a.kwonlyargs, a.kw_defaults)
        ]
        vararg = None
        if a.vararg is not None:
            ann = a.vararg.annotation
            if isinstance(ann, ast.Starred):
                vararg = GNode("ArgStarAnnotation", {"arg": _b(a.vararg.arg), "annotation": self.expr(ann.value)})
            else:
                vararg = GNode("arg", {"arg": _b(a.vararg.arg), "annotation": self.opt(ann)})
        kwarg = None
        if a.kwarg is not None:
            kwarg = GNode("arg", {"arg": _b(a.kwarg.arg), "annotation": self.opt(a.kwarg.annotation)})
        ctor = "ArgumentsPosDefault" if a.posonlyargs and first_default < len(a.posonlyargs) else "Arguments"
        return GNode(ctor, {"posonly": posonly, "args": args, "vararg": vararg, "kwonly": kwonly, "kwarg": kwarg})

    def keyword(self, k: ast.keyword) -> GNode:
        if k.arg is None:
            return GNode("KwUnpack", {"value": self.expr(k.value)})
        return GNode("keyword", {"arg": _b(k.arg), "value": self.expr(k.value)})

    # expressions
    def expr(self, n: ast.expr) -> GNode:
        method: Callable[[ast.expr], GNode] | None = getattr(self, "e_" + type(n).__name__, None)
        if method is None:
            raise GrammarError(f"line {getattr(n, 'lineno', '?')}: unsupported expression {type(n).__name__}")
        return method(n)

    def e_BoolOp(self, n: ast.BoolOp) -> GNode:
        return GNode("BoolOp_" + type(n.op).__name__, {"values": self.exprs(n.values)})

    def e_NamedExpr(self, n: ast.NamedExpr) -> GNode:
        if not isinstance(n.target, ast.Name):
            raise GrammarError("assignment expression target must be a name")
        return GNode("NamedExpr", {"target": _b(n.target.id), "value": self.expr(n.value)})

    def e_BinOp(self, n: ast.BinOp) -> GNode:
        return GNode("BinOp_" + type(n.op).__name__, {"left": self.expr(n.left), "right": self.expr(n.right)})

    def e_UnaryOp(self, n: ast.UnaryOp) -> GNode:
        return GNode("UnaryOp_" + type(n.op).__name__, {"operand": self.expr(n.operand)})

    def e_Lambda(self, n: ast.Lambda) -> GNode:
        return GNode("Lambda", {"args": self.arguments(n.args, is_lambda=True), "body": self.expr(n.body)})

    def e_IfExp(self, n: ast.IfExp) -> GNode:
        return GNode("IfExp", {"test": self.expr(n.test), "body": self.expr(n.body), "orelse": self.expr(n.orelse)})

    def e_Dict(self, n: ast.Dict) -> GNode:
        items: list[GValue] = [
            GNode("DictUnpack", {"value": self.expr(v)})
            if k is None
            else GNode("DictItem", {"key": self.expr(k), "value": self.expr(v)})
            for k, v in zip(n.keys, n.values)
        ]
        return GNode("Dict", {"items": items})

    def e_Set(self, n: ast.Set) -> GNode:
        return GNode("Set", {"elts": self.exprs(n.elts)})

    def generators(self, gens: list[ast.comprehension]) -> list[GValue]:
        return [
            GNode(
                "AsyncComprehension" if g.is_async else "comprehension",
                {
                    "target": self.expr(g.target),
                    "iter": self.expr(g.iter),
                    "ifs": self.exprs(g.ifs),
                },
            )
            for g in gens
        ]

    def e_ListComp(self, n: ast.ListComp) -> GNode:
        return GNode("ListComp", {"generators": self.generators(n.generators), "elt": self.expr(n.elt)})

    def e_SetComp(self, n: ast.SetComp) -> GNode:
        return GNode("SetComp", {"generators": self.generators(n.generators), "elt": self.expr(n.elt)})

    def e_GeneratorExp(self, n: ast.GeneratorExp) -> GNode:
        return GNode("GeneratorExp", {"generators": self.generators(n.generators), "elt": self.expr(n.elt)})

    def e_DictComp(self, n: ast.DictComp) -> GNode:
        return GNode(
            "DictComp",
            {
                "generators": self.generators(n.generators),
                "key": self.expr(n.key),
                "value": self.expr(n.value),
            },
        )

    def e_Await(self, n: ast.Await) -> GNode:
        return GNode("Await", {"value": self.expr(n.value)})

    def e_Yield(self, n: ast.Yield) -> GNode:
        return GNode("Yield", {"value": self.opt(n.value)})

    def e_YieldFrom(self, n: ast.YieldFrom) -> GNode:
        return GNode("YieldFrom", {"value": self.expr(n.value)})

    def e_Compare(self, n: ast.Compare) -> GNode:
        items: list[GValue] = [
            GNode("Cmp_" + type(op).__name__, {"comparator": self.expr(c)}) for op, c in zip(n.ops, n.comparators)
        ]
        return GNode("Compare", {"left": self.expr(n.left), "comparators": items})

    def e_Call(self, n: ast.Call) -> GNode:
        return GNode(
            "Call",
            {
                "func": self.expr(n.func),
                "args": self.exprs(n.args),
                "keywords": [self.keyword(k) for k in n.keywords],
            },
        )

    def fparts(self, values: list[ast.expr], ctor: str, inner: int | None = None, in_spec: bool = False) -> GNode:
        """An f-string's (or format spec's) parts; its replacement fields are lowered in f-string mode
        `inner` (default: the current one)."""
        saved = self.fmode
        if inner is not None:
            self.fmode = inner
        try:
            return self._fparts(values, ctor, in_spec)
        finally:
            self.fmode = saved

    def _fparts(self, values: list[ast.expr], ctor: str, in_spec: bool) -> GNode:
        head: bytes | None = None
        items: list[GValue] = []
        i = 0
        if values and isinstance(values[0], ast.Constant):
            head = _b(values[0].value)
            i = 1
        while i < len(values):
            v = values[i]
            if not isinstance(v, ast.FormattedValue):
                raise GrammarError("f-string with adjacent literal parts")
            tail = None
            if i + 1 < len(values) and isinstance(values[i + 1], ast.Constant):
                tail = _b(values[i + 1].value)  # type: ignore[attr-defined]
                i += 1
            items.append(GNode("FItem", {"value": self.formatted(v, in_spec), "tail": tail}))
            i += 1
        if head == b"" or any(isinstance(it, GNode) and it["tail"] == b"" for it in items):
            raise GrammarError("f-string with an empty literal part")
        return GNode(ctor, {"head": head, "items": items})

    def formatted(self, v: ast.FormattedValue, in_spec: bool = False) -> GNode:
        """A replacement field; `in_spec` if it sits in a format spec (where 3.11 allows no further nesting)."""
        spec = None
        if v.format_spec is not None:
            if not isinstance(v.format_spec, ast.JoinedStr):
                raise GrammarError("format spec must be an f-string")
            # 3.12.0-3.12.x's parser ends a spec like `{b}` with an empty literal part, and writes it
            # again when it reads the canonical text back: it carries no information
            parts = [p for p in v.format_spec.values if not (isinstance(p, ast.Constant) and p.value == "")]
            nested = in_spec and (len(parts) != 1 or not isinstance(parts[0], ast.Constant))
            spec = self.fparts(parts, "FormatSpecAny" if nested else "FormatSpec", in_spec=True)
        return GNode("FormattedValue_" + CONVERSIONS[v.conversion], {"value": self.expr(v.value), "format_spec": spec})

    def e_JoinedStr(self, n: ast.JoinedStr) -> GNode:
        # 3.11 nests an f-string in a replacement field once, with restricted text; 3.12 anything
        if self.fmode == 0:
            return self.fparts(n.values, "JoinedStr", inner=1)
        if self.fmode == 1 and all(_fexpr_safe(p.value) for p in n.values if isinstance(p, ast.Constant)):
            return self.fparts(n.values, "JoinedStr", inner=2)
        return self.fparts(n.values, "JoinedStrAny", inner=1)

    def e_Constant(self, n: ast.Constant) -> GNode:
        return self.constant(n)

    def constant(self, n: ast.Constant) -> GNode:
        v = n.value
        if v is True:
            return GNode("True")
        if v is False:
            return GNode("False")
        if v is None:
            return GNode("None")
        if v is Ellipsis:
            return GNode("Ellipsis")
        if isinstance(v, int):
            return GNode("Int", {"value": str(v).encode()})
        if isinstance(v, float):
            return GNode("Float", {"value": _float_text(v)})
        if isinstance(v, complex):
            return GNode("Imag", {"value": _float_text(v.imag)})
        # inside a replacement field, text that 3.11 could not write there needs 3.12's constructors
        any_text = "Any" if self.fmode and not _fexpr_safe(v) else ""
        if isinstance(v, str):
            return GNode(("UStr" if n.kind == "u" else "Str") + any_text, {"value": _b(v)})
        if isinstance(v, bytes):
            return GNode("Bytes" + any_text, {"value": v})
        raise GrammarError(f"unsupported constant {v!r}")

    def e_Attribute(self, n: ast.Attribute) -> GNode:
        return GNode("Attribute", {"value": self.expr(n.value), "attr": _b(n.attr)})

    def e_Subscript(self, n: ast.Subscript) -> GNode:
        return GNode("Subscript", {"value": self.expr(n.value), "slice": self.slice(n.slice)})

    def slice(self, n: ast.expr) -> GNode:
        if isinstance(n, ast.Slice):
            return GNode("Slice", {"lower": self.opt(n.lower), "upper": self.opt(n.upper), "step": self.opt(n.step)})
        if isinstance(n, ast.Tuple) and any(isinstance(e, ast.Slice) for e in n.elts):
            return GNode("SliceTuple", {"elts": [self.slice(e) for e in n.elts]})
        return self.expr(n)

    def e_Starred(self, n: ast.Starred) -> GNode:
        return GNode("Starred", {"value": self.expr(n.value)})

    def e_Name(self, n: ast.Name) -> GNode:
        return GNode("Name", {"id": _b(n.id)})

    def e_List(self, n: ast.List) -> GNode:
        return GNode("List", {"elts": self.exprs(n.elts)})

    def e_Tuple(self, n: ast.Tuple) -> GNode:
        return GNode("Tuple", {"elts": self.exprs(n.elts)})

    # patterns
    def pattern(self, p: ast.pattern) -> GNode:
        if isinstance(p, ast.MatchValue):
            return GNode("MatchValue", {"value": self.pattern_value(p.value)})
        if isinstance(p, ast.MatchSingleton):
            return GNode(f"MatchSingleton_{p.value}")
        if isinstance(p, ast.MatchSequence):
            return GNode("MatchSequence", {"patterns": [self.pattern(x) for x in p.patterns]})
        if isinstance(p, ast.MatchStar):
            return GNode("MatchStarWildcard") if p.name is None else GNode("MatchStar", {"name": _b(p.name)})
        if isinstance(p, ast.MatchMapping):
            items: list[GValue] = [
                GNode("MappingItem", {"key": self.pattern_value(k), "pattern": self.pattern(v)})
                for k, v in zip(p.keys, p.patterns)
            ]
            if p.rest is None:
                return GNode("MatchMapping", {"items": items})
            return GNode("MatchMappingRest", {"items": items, "rest": _b(p.rest)})
        if isinstance(p, ast.MatchClass):
            kwd: list[GValue] = [
                GNode("KwdPattern", {"attr": _b(a), "pattern": self.pattern(x)})
                for a, x in zip(p.kwd_attrs, p.kwd_patterns)
            ]
            return GNode(
                "MatchClass",
                {
                    "cls": self.pattern_value(p.cls),
                    "patterns": [self.pattern(x) for x in p.patterns],
                    "kwd": kwd,
                },
            )
        if isinstance(p, ast.MatchAs):
            if p.pattern is None:
                return GNode("MatchWildcard") if p.name is None else GNode("MatchCapture", {"name": _b(p.name)})
            if p.name is None:
                raise GrammarError("MatchAs with a pattern but no name")
            return GNode("MatchAs", {"pattern": self.pattern(p.pattern), "name": _b(p.name)})
        if isinstance(p, ast.MatchOr):
            return GNode("MatchOr", {"patterns": [self.pattern(x) for x in p.patterns]})
        raise GrammarError(f"unsupported pattern {type(p).__name__}")

    def pattern_value(self, v: ast.expr) -> GNode:
        if isinstance(v, ast.Constant):
            return self.constant(v)
        if isinstance(v, ast.Name):
            return GNode("Name", {"id": _b(v.id)})
        if isinstance(v, ast.Attribute):
            return GNode("Attribute", {"value": self.pattern_value(v.value), "attr": _b(v.attr)})
        if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub) and isinstance(v.operand, ast.Constant):
            inner = self.constant(v.operand)
            if inner.ctor in ("Int", "Float", "Imag"):
                return GNode("Neg" + inner.ctor, inner.fields)
        if (
            isinstance(v, ast.BinOp)
            and isinstance(v.op, (ast.Add, ast.Sub))
            and isinstance(v.right, ast.Constant)
            and isinstance(v.right.value, complex)
        ):
            return GNode(
                "Complex_" + type(v.op).__name__,
                {
                    "real": self.pattern_value(v.left),
                    "imag": _float_text(v.right.value.imag),
                },
            )
        raise GrammarError(f"line {getattr(v, 'lineno', '?')}: unsupported pattern value {type(v).__name__}")


def _is_docstring(s: ast.stmt) -> bool:
    return isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)


def _fexpr_safe(value: object) -> bool:
    """Whether a str or bytes constant may stand inside a 3.11 f-string replacement field."""
    data = value if isinstance(value, bytes) else _b(value) if isinstance(value, str) else b""
    return all(b in FEXPR_SAFE for b in data)


def _is_future(s: ast.stmt) -> bool:
    return isinstance(s, ast.ImportFrom) and s.module == "__future__" and not s.level


def _is_generator(fn: ast.AST, generators: frozenset[str] = frozenset()) -> bool:
    """Whether a function body yields (not counting nested functions, lambdas and classes), or holds
    a hole marker named in `generators` (a hole whose fill must yield)."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Name) and node.id in generators:
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def lower(tree: ast.Module, generators: frozenset[str] = frozenset(), filename: str = "<source>") -> GNode:
    """Lower a parsed module to its grammar tree.  `generators` names hole markers that stand for code
    with a `yield`: an `async def` around one is lowered as an async generator (`AsyncGenDef`).

    Raises UnsupportedSourceError (file:line:col) for a construct the grammar does not encode."""
    check_encodable(tree, filename)
    return _Lowerer(generators).module(tree)


def check_encodable(tree: ast.AST, filename: str = "<source>") -> None:
    """Refuse any node type or non-empty field that `ENCODED_FIELDS` does not list."""
    for node in ast.walk(tree):
        name = type(node).__name__
        if not node._fields:
            continue  # operators, contexts
        known = ENCODED_FIELDS.get(name)
        where = f"{filename}:{getattr(node, 'lineno', 1)}:{getattr(node, 'col_offset', 0) + 1}"
        if known is None:
            raise UnsupportedSourceError(f"{where}: astgen's grammar has no {name} (Python {version_text(RUNNING)})")
        for f in node._fields:
            if f not in known and f not in UNENCODED_FIELDS and getattr(node, f, None) not in (None, []):
                raise UnsupportedSourceError(f"{where}: astgen's grammar does not encode {name}.{f}")
