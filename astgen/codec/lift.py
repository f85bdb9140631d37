# typeshed types each ast node constructor precisely; lifting builds nodes generically from grammar
# trees, so these checks are relaxed for this module only.
# mypy: disable-error-code="arg-type,call-overload,misc,attr-defined,union-attr"
"""Lifting grammar trees (`GNode`) back to Python `ast` nodes: tree -> ast, the inverse of
`astgen.codec.lower`.  `ctx` and the other fields lowering dropped are derived again here."""

from __future__ import annotations

import ast

from astgen.codec.gnode import CONVERSIONS, GNode, GValue
from astgen.errors import GrammarError

__all__ = ["lift", "lift_expr", "lift_stmt"]

_CONVERSION_CODES = {v: k for k, v in CONVERSIONS.items()}


def _s(data: GValue) -> str:
    if not isinstance(data, bytes):
        raise GrammarError(f"expected terminal bytes, got {type(data).__name__}")
    return data.decode("utf-8", "surrogatepass")


_LOAD, _STORE, _DEL = ast.Load(), ast.Store(), ast.Del()


class _Lifter:
    def module(self, g: GNode) -> ast.Module:
        body: list[ast.stmt] = []
        for item in _list(g["body"]):
            item = _node(item)
            if item.ctor == "Docstring":
                body.append(ast.Expr(value=self.constant(_node(item["value"]))))
            elif item.ctor == "FutureImport":
                body.append(
                    ast.ImportFrom(module="__future__", names=[self.alias(a) for a in _list(item["names"])], level=0)
                )
            else:
                body.append(self.stmt(item))
        return ast.Module(body=body, type_ignores=[])

    def type_params(self, g: GNode, present: bool) -> dict[str, list[ast.AST]]:
        """The `type_params` keyword of a def or class: given on 3.12+, where the field exists."""
        if present:
            return {"type_params": [self.type_param(_node(p)) for p in _list(g["type_params"])]}
        return {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}

    def type_param(self, g: GNode) -> ast.AST:
        kind = g.ctor.removesuffix("Default")
        fields: dict[str, object] = {"name": _s(g["name"])}
        if kind == "TypeVar":
            fields["bound"] = self.opt(g["bound"])
        if g.ctor.endswith("Default"):
            fields["default_value"] = self.expr(_node(g["default_value"]))
        return getattr(ast, kind)(**fields)

    def stmts(self, v: GValue) -> list[ast.stmt]:
        return [self.stmt(_node(x)) for x in _list(v)]

    def body(self, v: GValue) -> list[ast.stmt]:
        return self.stmts(_node(v)["decls"]) + self.stmts(_node(v)["stmts"])

    def opt(self, v: GValue, ctx: ast.expr_context = _LOAD) -> ast.expr | None:
        return None if v is None else self.expr(_node(v), ctx)

    def exprs(self, v: GValue, ctx: ast.expr_context = _LOAD) -> list[ast.expr]:
        return [self.expr(_node(x), ctx) for x in _list(v)]

    def stmt(self, g: GNode) -> ast.stmt:
        c = g.ctor
        if c in ("FunctionDef", "AsyncFunctionDef", "AsyncGenDef", "FunctionDefT", "AsyncFunctionDefT", "AsyncGenDefT"):
            cls = ast.FunctionDef if c.startswith("FunctionDef") else ast.AsyncFunctionDef
            return cls(  # type: ignore[call-overload,no-any-return]
                name=_s(g["name"]),
                args=self.arguments(_node(g["args"])),
                body=self.body(g["body"]),
                decorator_list=self.exprs(g["decorator_list"]),
                returns=self.opt(g["returns"]),
                type_comment=None,
                **self.type_params(g, c.endswith("T")),
            )
        if c in ("ClassDef", "ClassDefT"):
            return ast.ClassDef(
                name=_s(g["name"]),
                bases=self.exprs(g["bases"]),
                keywords=[self.keyword(_node(k)) for k in _list(g["keywords"])],
                body=self.body(g["body"]),
                decorator_list=self.exprs(g["decorator_list"]),
                **self.type_params(g, c == "ClassDefT"),
            )
        if c == "TypeAlias":
            return ast.TypeAlias(  # Python 3.12+ (older targets never reach this constructor)
                name=ast.Name(id=_s(g["name"]), ctx=_STORE),
                type_params=[self.type_param(_node(p)) for p in _list(g["type_params"])],
                value=self.expr(_node(g["value"])),
            )
        if c == "Return":
            return ast.Return(value=self.opt(g["value"]))
        if c == "Delete":
            return ast.Delete(targets=self.exprs(g["targets"], _DEL))
        if c == "Assign":
            return ast.Assign(
                targets=self.exprs(g["targets"], _STORE), value=self.expr(_node(g["value"])), type_comment=None
            )
        if c.startswith("AugAssign_"):
            return ast.AugAssign(
                target=self.expr(_node(g["target"]), _STORE), op=_op(c), value=self.expr(_node(g["value"]))
            )
        if c in ("AnnAssign", "AnnAssignDecl", "AnnAssignName", "AnnAssignParen"):
            target: ast.expr
            if c in ("AnnAssignName", "AnnAssignParen"):
                target = ast.Name(id=_s(g["target"]), ctx=_STORE)
            else:
                target = self.expr(_node(g["target"]), _STORE)
            return ast.AnnAssign(
                target=target,
                annotation=self.expr(_node(g["annotation"])),
                value=self.opt(g["value"]),
                simple=int(c == "AnnAssignName"),
            )
        if c in ("For", "AsyncFor"):
            fcls = ast.For if c == "For" else ast.AsyncFor
            return fcls(  # type: ignore[call-overload,no-any-return]
                target=self.expr(_node(g["target"]), _STORE),
                iter=self.expr(_node(g["iter"])),
                body=self.stmts(g["body"]),
                orelse=self.stmts(g["orelse"]),
                type_comment=None,
            )
        if c == "While":
            return ast.While(
                test=self.expr(_node(g["test"])), body=self.stmts(g["body"]), orelse=self.stmts(g["orelse"])
            )
        if c == "If":
            return ast.If(test=self.expr(_node(g["test"])), body=self.stmts(g["body"]), orelse=self.stmts(g["orelse"]))
        if c in ("With", "AsyncWith"):
            wcls = ast.With if c == "With" else ast.AsyncWith
            items = [
                ast.withitem(
                    context_expr=self.expr(_node(i["context_expr"])), optional_vars=self.opt(i["optional_vars"], _STORE)
                )
                for i in map(_node, _list(g["items"]))
            ]
            return wcls(items=items, body=self.stmts(g["body"]), type_comment=None)  # type: ignore[call-overload,no-any-return]
        if c == "Match":
            cases = [
                ast.match_case(
                    pattern=self.pattern(_node(m["pattern"])), guard=self.opt(m["guard"]), body=self.stmts(m["body"])
                )
                for m in map(_node, _list(g["cases"]))
            ]
            return ast.Match(subject=self.expr(_node(g["subject"])), cases=cases)
        if c == "Raise":
            return ast.Raise(exc=self.expr(_node(g["exc"])), cause=self.opt(g["cause"]))
        if c == "RaiseBare":
            return ast.Raise(exc=None, cause=None)
        if c in ("Try", "TryBare", "TryFinally", "TryStar"):
            tcls = ast.TryStar if c == "TryStar" else ast.Try
            return tcls(  # type: ignore[call-overload,no-any-return]
                body=self.stmts(g["body"]),
                handlers=[self.handler(_node(h)) for h in _list(g["handlers"])],
                orelse=self.stmts(g["orelse"]),
                finalbody=self.stmts(g["finalbody"]),
            )
        if c == "Assert":
            return ast.Assert(test=self.expr(_node(g["test"])), msg=self.opt(g["msg"]))
        if c == "Import":
            return ast.Import(names=[self.alias(a) for a in _list(g["names"])])
        if c in ("ImportFrom", "ImportFromDots", "ImportStar", "ImportStarDots"):
            names = [ast.alias(name="*")] if c.startswith("ImportStar") else [self.alias(a) for a in _list(g["names"])]
            module = _s(g["module"]) if g["module"] is not None else None
            return ast.ImportFrom(module=module, names=names, level=len(_list(g["level"])))
        if c == "Global":
            return ast.Global(names=[_s(x) for x in _list(g["names"])])
        if c == "Nonlocal":
            return ast.Nonlocal(names=[_s(x) for x in _list(g["names"])])
        if c == "Expr":
            return ast.Expr(value=self.expr(_node(g["value"])))
        if c == "Pass":
            return ast.Pass()
        if c == "Break":
            return ast.Break()
        if c == "Continue":
            return ast.Continue()
        raise GrammarError(f"unknown statement constructor {c}")

    def handler(self, g: GNode) -> ast.ExceptHandler:
        if g.ctor == "ExceptHandlerBare":
            return ast.ExceptHandler(type=None, name=None, body=self.stmts(g["body"]))
        name = g["name"]
        return ast.ExceptHandler(
            type=self.expr(_node(g["type"])), name=None if name is None else _s(name), body=self.stmts(g["body"])
        )

    def alias(self, v: GValue) -> ast.alias:
        g = _node(v)
        asname = g["asname"]
        return ast.alias(name=_s(g["name"]), asname=None if asname is None else _s(asname))

    def arguments(self, g: GNode) -> ast.arguments:
        def arg(p: GNode) -> ast.arg:
            return ast.arg(arg=_s(p["arg"]), annotation=self.opt(p["annotation"]), type_comment=None)

        posonly = [_node(x) for x in _list(g["posonly"])]
        args = [_node(x) for x in _list(g["args"])]
        defaults = [self.expr(_node(p["default"])) for p in posonly + args if p.ctor == "ArgDefault"]
        vararg = None
        if g["vararg"] is not None:
            v = _node(g["vararg"])
            vararg = arg(v)
            if v.ctor == "ArgStarAnnotation":
                vararg.annotation = ast.Starred(value=vararg.annotation, ctx=_LOAD)
        kwonly = [_node(x) for x in _list(g["kwonly"])]
        return ast.arguments(
            posonlyargs=[arg(p) for p in posonly],
            args=[arg(p) for p in args],
            vararg=vararg,
            kwonlyargs=[arg(p) for p in kwonly],
            kw_defaults=[self.opt(p["default"]) for p in kwonly],
            kwarg=None if g["kwarg"] is None else arg(_node(g["kwarg"])),
            defaults=defaults,
        )

    def keyword(self, g: GNode) -> ast.keyword:
        if g.ctor == "KwUnpack":
            return ast.keyword(arg=None, value=self.expr(_node(g["value"])))
        return ast.keyword(arg=_s(g["arg"]), value=self.expr(_node(g["value"])))

    def generators(self, v: GValue) -> list[ast.comprehension]:
        return [
            ast.comprehension(
                target=self.expr(_node(x["target"]), _STORE),
                iter=self.expr(_node(x["iter"])),
                ifs=self.exprs(x["ifs"]),
                is_async=int(x.ctor == "AsyncComprehension"),
            )
            for x in map(_node, _list(v))
        ]

    def fparts(self, g: GNode) -> list[ast.expr]:
        values: list[ast.expr] = []
        if g["head"] is not None:
            values.append(ast.Constant(value=_s(g["head"])))
        for item in map(_node, _list(g["items"])):
            values.append(self.formatted(_node(item["value"])))
            if item["tail"] is not None:
                values.append(ast.Constant(value=_s(item["tail"])))
        return values

    def formatted(self, g: GNode) -> ast.FormattedValue:
        spec = g["format_spec"]
        return ast.FormattedValue(
            value=self.expr(_node(g["value"])),
            conversion=_CONVERSION_CODES[g.ctor.split("_", 1)[1]],
            format_spec=None if spec is None else ast.JoinedStr(values=self.fparts(_node(spec))),
        )

    def expr(self, g: GNode, ctx: ast.expr_context = _LOAD) -> ast.expr:
        c = g.ctor
        if c.startswith("BoolOp_"):
            return ast.BoolOp(op=_op(c), values=self.exprs(g["values"]))
        if c == "NamedExpr":
            return ast.NamedExpr(target=ast.Name(id=_s(g["target"]), ctx=_STORE), value=self.expr(_node(g["value"])))
        if c.startswith("BinOp_"):
            return ast.BinOp(left=self.expr(_node(g["left"])), op=_op(c), right=self.expr(_node(g["right"])))
        if c.startswith("UnaryOp_"):
            return ast.UnaryOp(op=_op(c), operand=self.expr(_node(g["operand"])))
        if c == "Lambda":
            return ast.Lambda(args=self.arguments(_node(g["args"])), body=self.expr(_node(g["body"])))
        if c == "IfExp":
            return ast.IfExp(
                test=self.expr(_node(g["test"])), body=self.expr(_node(g["body"])), orelse=self.expr(_node(g["orelse"]))
            )
        if c == "Dict":
            items = [_node(x) for x in _list(g["items"])]
            return ast.Dict(
                keys=[self.expr(_node(i["key"])) if i.ctor == "DictItem" else None for i in items],
                values=[self.expr(_node(i["value"])) for i in items],
            )
        if c == "Set":
            return ast.Set(elts=self.exprs(g["elts"]))
        if c in ("ListComp", "SetComp", "GeneratorExp"):
            ccls = {"ListComp": ast.ListComp, "SetComp": ast.SetComp, "GeneratorExp": ast.GeneratorExp}[c]
            return ccls(elt=self.expr(_node(g["elt"])), generators=self.generators(g["generators"]))  # type: ignore[no-any-return]
        if c == "DictComp":
            return ast.DictComp(
                key=self.expr(_node(g["key"])),
                value=self.expr(_node(g["value"])),
                generators=self.generators(g["generators"]),
            )
        if c == "Await":
            return ast.Await(value=self.expr(_node(g["value"])))
        if c == "Yield":
            return ast.Yield(value=self.opt(g["value"]))
        if c == "YieldFrom":
            return ast.YieldFrom(value=self.expr(_node(g["value"])))
        if c == "Compare":
            items = [_node(x) for x in _list(g["comparators"])]
            return ast.Compare(
                left=self.expr(_node(g["left"])),
                ops=[_op(i.ctor) for i in items],
                comparators=[self.expr(_node(i["comparator"])) for i in items],
            )
        if c == "Call":
            return ast.Call(
                func=self.expr(_node(g["func"])),
                args=self.exprs(g["args"]),
                keywords=[self.keyword(_node(k)) for k in _list(g["keywords"])],
            )
        if c in ("JoinedStr", "JoinedStrAny"):
            return ast.JoinedStr(values=self.fparts(g))
        if c in _CONSTANT_CTORS:
            return self.constant(g)
        if c == "Attribute":
            return ast.Attribute(value=self.expr(_node(g["value"])), attr=_s(g["attr"]), ctx=ctx)
        if c == "Subscript":
            return ast.Subscript(value=self.expr(_node(g["value"])), slice=self.expr(_node(g["slice"])), ctx=ctx)
        if c == "Slice":
            return ast.Slice(lower=self.opt(g["lower"]), upper=self.opt(g["upper"]), step=self.opt(g["step"]))
        if c == "SliceTuple":
            return ast.Tuple(elts=self.exprs(g["elts"]), ctx=_LOAD)
        if c == "Starred":
            return ast.Starred(value=self.expr(_node(g["value"]), ctx), ctx=ctx)
        if c == "Name":
            return ast.Name(id=_s(g["id"]), ctx=ctx)
        if c == "List":
            return ast.List(elts=self.exprs(g["elts"], ctx), ctx=ctx)
        if c == "Tuple":
            return ast.Tuple(elts=self.exprs(g["elts"], ctx), ctx=ctx)
        raise GrammarError(f"unknown expression constructor {c}")

    def constant(self, g: GNode) -> ast.expr:
        c = g.ctor
        if c in ("True", "False", "None", "Ellipsis"):
            return ast.Constant(value={"True": True, "False": False, "None": None, "Ellipsis": ...}[c])
        if c in ("NegInt", "NegFloat", "NegImag"):
            return ast.UnaryOp(op=ast.USub(), operand=self.constant(GNode(c[3:], g.fields)))
        if c in ("Bytes", "BytesAny"):
            return ast.Constant(value=g["value"])
        text = _s(g["value"])
        if c == "Int":
            return ast.Constant(value=int(text))
        if c == "Float":
            return ast.Constant(value=float(text))
        if c == "Imag":
            return ast.Constant(value=complex(0.0, float(text)))
        if c in ("Str", "UStr", "StrAny", "UStrAny"):
            return ast.Constant(value=text, kind="u" if c.startswith("UStr") else None)
        raise GrammarError(f"unknown constant constructor {c}")

    def pattern_value(self, g: GNode) -> ast.expr:
        if g.ctor.startswith("Complex_"):
            imag = ast.Constant(value=complex(0.0, float(_s(g["imag"]))))
            return ast.BinOp(left=self.pattern_value(_node(g["real"])), op=_op(g.ctor), right=imag)
        if g.ctor == "Attribute":
            return ast.Attribute(value=self.pattern_value(_node(g["value"])), attr=_s(g["attr"]), ctx=_LOAD)
        if g.ctor == "Name":
            return ast.Name(id=_s(g["id"]), ctx=_LOAD)
        return self.constant(g)

    def pattern(self, g: GNode) -> ast.pattern:
        c = g.ctor
        if c == "MatchValue":
            return ast.MatchValue(value=self.pattern_value(_node(g["value"])))
        if c.startswith("MatchSingleton_"):
            return ast.MatchSingleton(value={"True": True, "False": False, "None": None}[c.split("_", 1)[1]])
        if c == "MatchSequence":
            return ast.MatchSequence(patterns=[self.pattern(_node(x)) for x in _list(g["patterns"])])
        if c == "MatchStar":
            return ast.MatchStar(name=_s(g["name"]))
        if c == "MatchStarWildcard":
            return ast.MatchStar(name=None)
        if c in ("MatchMapping", "MatchMappingRest"):
            items = [_node(x) for x in _list(g["items"])]
            return ast.MatchMapping(
                keys=[self.pattern_value(_node(i["key"])) for i in items],
                patterns=[self.pattern(_node(i["pattern"])) for i in items],
                rest=_s(g["rest"]) if c == "MatchMappingRest" else None,
            )
        if c == "MatchClass":
            kwd = [_node(x) for x in _list(g["kwd"])]
            return ast.MatchClass(
                cls=self.pattern_value(_node(g["cls"])),
                patterns=[self.pattern(_node(x)) for x in _list(g["patterns"])],
                kwd_attrs=[_s(k["attr"]) for k in kwd],
                kwd_patterns=[self.pattern(_node(k["pattern"])) for k in kwd],
            )
        if c == "MatchCapture":
            return ast.MatchAs(pattern=None, name=_s(g["name"]))
        if c == "MatchWildcard":
            return ast.MatchAs(pattern=None, name=None)
        if c == "MatchAs":
            return ast.MatchAs(pattern=self.pattern(_node(g["pattern"])), name=_s(g["name"]))
        if c == "MatchOr":
            return ast.MatchOr(patterns=[self.pattern(_node(x)) for x in _list(g["patterns"])])
        raise GrammarError(f"unknown pattern constructor {c}")


_CONSTANT_CTORS = frozenset(
    {
        "True",
        "False",
        "None",
        "Ellipsis",
        "Int",
        "Float",
        "Imag",
        "Str",
        "UStr",
        "Bytes",
        "StrAny",
        "UStrAny",
        "BytesAny",
        "NegInt",
        "NegFloat",
        "NegImag",
    }
)


def _op(ctor: str) -> ast.AST:
    name = ctor.split("_", 1)[1]
    op = getattr(ast, name, None)
    if op is None:
        raise GrammarError(f"unknown operator in {ctor}")
    return op()  # type: ignore[no-any-return]


def _node(v: GValue) -> GNode:
    if not isinstance(v, GNode):
        raise GrammarError(f"expected a node, got {type(v).__name__}")
    return v


def _list(v: GValue) -> list[GValue]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise GrammarError(f"expected a list, got {type(v).__name__}")
    return v


def lift(g: GNode) -> ast.Module:
    """Lift a grammar tree back to a Python `ast.Module` (locations filled in)."""
    return ast.fix_missing_locations(_Lifter().module(g))


def lift_stmt(g: GNode) -> ast.stmt:
    """Lift one statement's grammar tree (e.g. a hole's subtree), locations filled in."""
    return ast.fix_missing_locations(_Lifter().stmt(g))


def lift_expr(g: GNode) -> ast.expr:
    """Lift one expression's grammar tree (e.g. a hole's subtree), locations filled in."""
    return ast.fix_missing_locations(_Lifter().expr(g))
