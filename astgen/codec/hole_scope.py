"""What a hole's fill must leave unchanged in the code around it (the scope rules of one hole).

A fill is new code inside an existing function (or class, or module).  Python decides some things about
a scope from *all* of its code, so a fill could change the meaning of code it does not touch:

- a `yield` turns the enclosing function into a generator (and dropping the only one turns it back);
- binding a name the rest of the function reads from an enclosing scope or the module makes that name
  local everywhere in the function (an `UnboundLocalError` before the binding runs);
- `del`, `global` or `nonlocal` of a name the rest of the scope uses changes what it refers to;
- reading a local that the function binds only after the hole raises `UnboundLocalError`.

`hole_contexts` reads these facts from the holed module (holes written as marker names, see
`astgen.codec.holes`) with `symtable`; the decoder enforces them through the grammar's `nobind`,
`keep` and `unbound` symbol sets and a yield rule.  Pure Python, no torch."""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from astgen.codec.markers import marker_index
from astgen.codec.module_names import module_aliases
from astgen.errors import SourceSyntaxError

__all__ = ["FORBID", "FREE", "REQUIRE", "YIELD_RULES", "HoleContext", "generator_holes", "hole_contexts", "own_yields"]

FREE, FORBID, REQUIRE = "free", "forbid", "require"
YIELD_RULES = (FREE, FORBID, REQUIRE)

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class HoleContext:
    """The rules for one hole's fill, at the hole's own scope (nested scopes inside the fill are free).

    `yields`: FREE (the scope yields already, or cannot), FORBID (it is a plain function or coroutine,
    so the fill may not yield) or REQUIRE (it was a generator only through the code the hole replaces,
    so the fill must yield).  `nobind`: names the fill may not bind; `keep`: names it may not delete
    or declare `global`/`nonlocal`; `unbound`: locals it may not read (bound only after the hole; a
    fill that binds one itself may not read it either, which is stricter than Python)."""

    yields: str = FREE
    nobind: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    unbound: tuple[str, ...] = ()
    bound: tuple[str, ...] = ()  # names the scope has bound before the hole (a fill may read, then rebind them)
    # module-level names a fill in a function may read although they are bound after the hole (the
    # function runs once the module has run)
    module_names: tuple[str, ...] = ()
    # names the code after the hole reads in the hole's scope and nothing binds (a statement hole
    # replaced their binding): a statement-list fill must bind each of them before it ends
    must_bind: tuple[str, ...] = ()
    # (name, module): names that refer to an imported module wherever the file reads them
    # (`astgen.codec.module_names.module_aliases`); a fill reads only attributes the module has
    modules: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.yields not in YIELD_RULES:
            raise ValueError(f"yields must be one of {YIELD_RULES}, got {self.yields!r}")


def hole_contexts(module: ast.Module, generators: Collection[int] = ()) -> dict[int, HoleContext]:
    """The context of every marker hole of `module`, by marker index.  `generators` lists the holes
    whose replaced code made their function a generator (e.g. `rewrite --function` of a generator)."""
    source = ast.unparse(module)
    tree = ast.parse(source)
    owed_nonlocal = _unbound_nonlocals(tree)
    # for the symbol tables, each name a `nonlocal` still needs is bound on its hole's line (the fill's job)
    lines = source.split("\n")
    for (line, _), names in owed_nonlocal.items():
        lines[line - 1] += "".join(f"; {n} = None" for n in names)
    try:
        tables = _TableIndex(symtable.symtable("\n".join(lines), "<holes>", "exec"))
    except SyntaxError as e:  # compile-time scope errors ast.parse lets through (e.g. a nonlocal nothing binds)
        raise SourceSyntaxError(e.msg, "<holes>", e.lineno, e.offset) from None
    module_names = tuple(sorted(n for n in _own_bindings(tree, lasting=True) if marker_index(n) is None))
    star = any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree))
    statements = {  # holes that stand for statements (only a statement list can bind what is owed)
        marker_index(n.value.id) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Name)
    }
    modules = tuple((n, m) for n, m in module_aliases(tree) if marker_index(n) is None)
    out: dict[int, HoleContext] = {}
    for scope, markers in _marker_scopes(tree):
        table = tables.of(scope)
        is_function = not isinstance(scope, (ast.Module, ast.ClassDef))
        used = {s.get_name() for s in table.get_symbols()}
        keep = tuple(sorted(n for n in used if marker_index(n) is None))
        nobind: tuple[str, ...] = ()
        later: set[str] = set()
        if is_function:
            local = {s.get_name() for s in table.get_symbols() if s.is_local() and not s.is_parameter()}
            later = local - {n for n in local if marker_index(n) is not None}
            outside = {
                s.get_name()
                for s in table.get_symbols()
                if s.is_referenced() and not s.is_local() and not s.is_declared_global() and not s.is_nonlocal()
            }
            outside |= _inner_globals(table) - {s.get_name() for s in table.get_symbols() if s.is_local()}
            nobind = tuple(sorted(n for n in outside if marker_index(n) is None))
        bindings = _own_bindings(scope)
        declared = {
            s.get_name()
            for s in table.get_symbols()
            if (s.is_parameter() or s.is_declared_global() or s.is_nonlocal()) and marker_index(s.get_name()) is None
        }
        # names the scope's own code reads that nothing binds: in a function, implicit globals the module
        # does not bind; in the module, names it never binds (neither is a builtin; a star import: none)
        reads = _own_loads(scope) if not star and not isinstance(scope, ast.ClassDef) else {}
        if is_function:
            reads = {n: ps for n, ps in reads.items() if n in _implicit_globals(table)}
        unresolved = {
            n: ps
            for n, ps in reads.items()
            if n not in module_names and n not in bindings and not hasattr(builtins, n) and marker_index(n) is None
        }
        for k, at in markers:
            if not is_function or own_yields(scope):
                yields = FREE
            else:
                yields = REQUIRE if k in generators else FORBID
            # (a name local only through a comprehension, as 3.12+ symtables inline them, is not bound here)
            unbound = tuple(sorted(n for n in later if n in bindings and not any(p < at for p in bindings[n])))
            bound = tuple(sorted({n for n, ps in bindings.items() if any(p < at for p in ps)} | declared))
            # a fill may bind what only the code after it reads (binding it cannot break an earlier read)
            owed = {n for n, ps in unresolved.items() if k in statements and all(p > at for p in ps)}
            must = tuple(sorted(owed | set(owed_nonlocal.get(at, ()))))
            out[k] = HoleContext(
                yields,
                tuple(n for n in nobind if n not in must),
                keep,
                unbound,
                bound,
                module_names if is_function else (),
                must,
                modules,
            )
    return out


def generator_holes(original: ast.Module, marked: ast.Module) -> list[int]:
    """The marker holes of `marked` (a rewrite of `original` with some code replaced by markers) whose
    function is a generator in `original`: their fills must keep it one.  Functions are matched by
    name and `def` line, which a rewrite below the `def` line does not move."""
    defs = {
        (type(n).__name__, getattr(n, "name", ""), n.lineno): n for n in ast.walk(original) if isinstance(n, _SCOPES)
    }
    out: list[int] = []
    for scope, markers in _marker_scopes(marked):
        if isinstance(scope, (ast.Module, ast.ClassDef)):
            continue
        twin = defs.get((type(scope).__name__, getattr(scope, "name", ""), getattr(scope, "lineno", 0)))
        if twin is not None and own_yields(twin):
            out.extend(k for k, _ in markers)
    return sorted(out)


def own_yields(scope: ast.AST) -> bool:
    """Whether a function (or lambda) yields at its own level."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _inner_globals(table: symtable.SymbolTable) -> set[str]:
    """Names that scopes nested in `table` read as implicit globals (binding one in `table` would turn
    it into a reference to the new local)."""
    names: set[str] = set()
    for child in table.get_children():
        for s in child.get_symbols():
            if s.is_referenced() and s.is_global() and not s.is_declared_global():
                names.add(s.get_name())
        names |= _inner_globals(child)
    return names


def _implicit_globals(table: symtable.SymbolTable) -> set[str]:
    """Names a function reads as implicit globals, its comprehensions included (before 3.12 each has
    its own symbol table; from 3.12 they are inlined)."""
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and not s.is_declared_global()}
    for child in table.get_children():
        if child.get_name() in ("listcomp", "setcomp", "dictcomp", "genexpr"):
            names |= _implicit_globals(child)
    return names


class _TableIndex:
    """Symbol tables of function, lambda and class scopes, by (name, line), in source order."""

    def __init__(self, top: symtable.SymbolTable):
        self.top = top
        self.by_key: dict[tuple[str, int], list[symtable.SymbolTable]] = {}
        stack = [top]
        while stack:
            table = stack.pop()
            for child in table.get_children():
                self.by_key.setdefault((child.get_name(), child.get_lineno()), []).append(child)
            stack.extend(reversed(table.get_children()))

    def of(self, node: ast.AST) -> symtable.SymbolTable:
        if isinstance(node, ast.Module):
            return self.top
        name = "lambda" if isinstance(node, ast.Lambda) else getattr(node, "name", "")
        found = self.by_key.get((name, getattr(node, "lineno", 0)), [])
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        for table in found:  # not a same-named table of another kind on that line (3.12+ type parameters)
            if table.get_type() == kind:
                return table
        raise ValueError(f"no symbol table for {type(node).__name__} {name!r} on line {getattr(node, 'lineno', 0)}")


def _own_bindings(scope: ast.AST, lasting: bool = False) -> dict[str, list[tuple[int, int]]]:
    """Where (line, column) a function binds each of its own names, in its own scope: assignment
    and loop targets, walrus, imports, nested def/class names, `except ... as`, match captures.
    `lasting`: only bindings that still hold after the scope has run (no `except ... as` name, which
    Python deletes after its handler, and no name the scope deletes anywhere)."""
    out: dict[str, list[tuple[int, int]]] = {}
    deleted: set[str] = set()
    effective = _binding_points(scope)

    def add(name: str, node: ast.AST) -> None:
        if lasting and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
            deleted.add(name)
            return
        if lasting and isinstance(node, ast.ExceptHandler):
            return
        where = effective.get(id(node), (getattr(node, "lineno", 0), getattr(node, "col_offset", 0)))
        out.setdefault(name, []).append(where)

    def walk(node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            for child in value if isinstance(value, list) else [value]:
                if not isinstance(child, ast.AST):
                    continue
                if isinstance(child, ast.comprehension) and field == "generators":
                    walk_comprehension(child)
                    continue
                visit(child)

    def walk_comprehension(c: ast.comprehension) -> None:
        for part in (c.iter, *c.ifs):  # the target binds in the comprehension's own scope
            visit(part)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id, node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name, node)
            for d in node.decorator_list:
                visit(d)
            return  # its body is its own scope
        elif isinstance(node, ast.Lambda):
            return
        elif isinstance(node, ast.alias):
            add((node.asname or node.name).split(".")[0], node)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            add(node.name, node)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            add(node.name, node)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            add(node.rest, node)
        walk(node)

    for stmt in getattr(scope, "body", []) if isinstance(getattr(scope, "body", None), list) else []:
        visit(stmt)
    return {name: where for name, where in out.items() if name not in deleted}


def _unbound_nonlocals(tree: ast.Module) -> dict[tuple[int, int], tuple[str, ...]]:
    """`nonlocal` names no enclosing function binds (a SyntaxError until a fill binds them), by the
    position of the statement hole that is to bind each: the innermost enclosing function's first one."""
    out: dict[tuple[int, int], set[str]] = {}

    def holes_of(fn: ast.AST) -> list[tuple[int, int]]:
        return [
            (s.lineno, s.col_offset)
            for s in ast.walk(fn)
            if isinstance(s, ast.Expr)
            and isinstance(s.value, ast.Name)
            and marker_index(s.value.id) is not None
            and _scope_of(fn, s)
        ]

    def visit(node: ast.AST, chain: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Nonlocal):
                for name in child.names:
                    if not any(name in _own_bindings(f) or name in _params(f) for f in chain[:-1]):
                        for f in reversed(chain[:-1]):
                            if holes := holes_of(f):
                                out.setdefault(holes[0], set()).add(name)
                                break
            inner = [*chain, child] if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else chain
            visit(child, inner)

    visit(tree, [])
    return {at: tuple(sorted(names)) for at, names in out.items()}


def _params(fn: ast.AST) -> set[str]:
    a = getattr(fn, "args", None)
    if a is None:
        return set()
    return {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p is not None}


def _scope_of(fn: ast.AST, target: ast.AST) -> bool:
    """Whether `target` is in `fn`'s own code (not in a def, class or lambda nested in it)."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if node is target:
            return True
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _own_loads(scope: ast.AST) -> dict[str, list[tuple[int, int]]]:
    """Where (line, column) the scope's own code reads each name: not inside nested def or lambda
    bodies, but in their decorators, defaults and annotations, and in class bodies (which run here)
    the names the class does not bind itself."""
    out: dict[str, list[tuple[int, int]]] = {}
    stack: list[ast.AST] = list(getattr(scope, "body", []) if isinstance(getattr(scope, "body", None), list) else [])
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            out.setdefault(node.id, []).append((node.lineno, node.col_offset))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            parts: list[ast.AST | None] = [*a.defaults, *a.kw_defaults]
            if not isinstance(node, ast.Lambda):
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                parts += [*node.decorator_list, node.returns, *(p.annotation for p in params if p is not None)]
            stack.extend(p for p in parts if p is not None)
        elif isinstance(node, ast.ClassDef):
            stack.extend([*node.decorator_list, *node.bases, *node.keywords])
            # a class body runs right away, here: what it reads and does not bind itself is read from here
            own = _own_bindings(node)
            for name, where in _own_loads(node).items():
                if name not in own:
                    out.setdefault(name, []).extend(where)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return out


def _binding_points(scope: ast.AST) -> dict[int, tuple[int, int]]:
    """Where each binding target under `scope` takes effect, by node id, where that is after the
    target itself: an assignment's targets bind once its value has run (`x = f(x)` reads the old
    `x`), a loop's or comprehension's target after its iterable, a `with` target after its context
    expression, a walrus after its value, a def or class name after the whole statement."""
    out: dict[int, tuple[int, int]] = {}

    def end(node: ast.AST) -> tuple[int, int]:
        return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)

    def mark(targets: Sequence[ast.AST], at: tuple[int, int]) -> None:
        for t in targets:
            for n in ast.walk(t):
                out[id(n)] = at

    for node in ast.walk(scope):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            mark(node.targets if isinstance(node, ast.Assign) else [node.target], end(node))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            mark([node.target], end(node.iter))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    mark([item.optional_vars], end(item.context_expr))
        elif isinstance(node, ast.NamedExpr):
            mark([node.target], end(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            out[id(node)] = end(node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mark(list(node.names), end(node))
    return out


def _marker_scopes(tree: ast.Module) -> Iterator[tuple[ast.AST, list[tuple[int, tuple[int, int]]]]]:
    """(scope node, the marker holes directly in it: (index, (line, column))) for each scope with
    holes.  A comprehension belongs to its enclosing scope here (a fill's walrus binds there)."""
    found: dict[int, tuple[ast.AST, list[tuple[int, tuple[int, int]]]]] = {}

    def walk(node: ast.AST, scope: ast.AST) -> None:
        if isinstance(node, ast.Name) and (k := marker_index(node.id)) is not None:
            found.setdefault(id(scope), (scope, []))[1].append((k, (node.lineno, node.col_offset)))
        for field, value in ast.iter_fields(node):
            # a def's body is its own scope; its decorators, defaults, annotations and bases are not
            inner = node if isinstance(node, _SCOPES) and field == "body" else scope
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    walk(child, inner)

    walk(tree, tree)
    yield from found.values()
