"""The attributes a module has, read from its source without running it (issue 14's `module.<attr>`).

`module_attributes("os")` finds the module's file the way `import` would (`importlib.machinery.PathFinder`
over `sys.path`, never executing a module), parses it and collects the names its top level binds
(assignments, `def`, `class`, imports, names functions declare `global`), the names star imports bring
(followed into their modules), a package's submodules and what every module object has (`__name__`,
`__dict__`, ...).  Built-in modules (`sys.builtin_module_names`, compiled into the interpreter) are
listed with `dir()`.  The answer is None — *unknown*, nothing to restrict — for a module that is not
found, an extension module, a module with a module-level `__getattr__`, or one whose unconditional star
import cannot be followed.  A star import inside `if`/`try` that cannot be followed (a platform's
alternative, `from nt import *` on Linux) is skipped.  Pure Python, no torch."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import os
import sys
import sysconfig
import types
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["module_aliases", "module_attributes"]

_MODULE_OBJECT = frozenset(dir(types.ModuleType("m"))) | {"__dict__", "__file__", "__cached__", "__builtins__"}
_EXPORTERS = frozenset({"global_enum", "_convert_"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def module_attributes(name: str, path: Sequence[str] | None = None) -> frozenset[str] | None:
    """The attribute names module `name` (dotted) has after its import, or None where that cannot be
    known statically.  `path`: where to look (default `sys.path`)."""
    return _attributes(name, tuple(sys.path if path is None else path), ())


@lru_cache(maxsize=512)
def _attributes(name: str, path: tuple[str, ...], seen: tuple[str, ...]) -> frozenset[str] | None:
    if name in seen:  # a star-import cycle: what the outer module binds is counted there
        return frozenset()
    if name in sys.builtin_module_names:  # compiled into the interpreter: importing it runs no Python code
        return frozenset(dir(importlib.import_module(name))) | _MODULE_OBJECT
    spec = _find(name, path)
    if spec is None or spec.origin in (None, "namespace"):
        if spec is not None and spec.submodule_search_locations:  # a namespace package: its submodules
            return frozenset(_submodules(spec.submodule_search_locations)) | _MODULE_OBJECT | {"__path__"}
        return None
    if not spec.origin.endswith(".py"):
        if _in_stdlib_extensions(spec.origin):  # the interpreter's own C modules (math, _json): safe to import
            return frozenset(dir(importlib.import_module(name))) | _MODULE_OBJECT
        return None  # another extension module: only importing it would tell
    try:
        with open(spec.origin, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    package = name if spec.submodule_search_locations else name.rpartition(".")[0]
    names = _top_level_names(tree, package, path, (*seen, name))
    if names is None:
        return None
    if spec.submodule_search_locations:
        names |= _submodules(spec.submodule_search_locations) | {"__path__"}
    return frozenset(names) | _MODULE_OBJECT


def _in_stdlib_extensions(origin: str) -> bool:
    """Whether a file is one of the standard library's extension modules (`lib-dynload`)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    folder = sysconfig.get_path("platstdlib", vars={**base, "installed_base": sys.base_prefix})
    return bool(folder) and os.path.dirname(origin) == os.path.join(folder, "lib-dynload")


def _find(name: str, path: tuple[str, ...]) -> importlib.machinery.ModuleSpec | None:
    """The spec of `name` found on `path` package by package, importing nothing."""
    parts = name.split(".")
    locations: list[str] = list(path)
    spec = None
    for i in range(len(parts)):
        try:
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), locations)
        except (ImportError, ValueError, OSError):
            return None
        if spec is None:
            return None
        if i < len(parts) - 1:
            if not spec.submodule_search_locations:
                return None
            locations = list(spec.submodule_search_locations)
    return spec


def _submodules(locations: Sequence[str]) -> set[str]:
    """Module and package names directly inside a package's folders (`import pkg.sub` binds `pkg.sub`)."""
    out: set[str] = set()
    for folder in locations:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            stem = entry.split(".", 1)[0]
            if stem.isidentifier() and (entry.endswith((".py", ".so", ".pyd")) or "." not in entry):
                out.add(stem)
    return out


def _top_level_names(tree: ast.Module, package: str, path: tuple[str, ...], seen: tuple[str, ...]) -> set[str] | None:
    """What the module's top level binds (None: unknown — a module `__getattr__`, or an unconditional
    star import that cannot be followed)."""
    names: set[str] = set()
    aliases = _namespace_aliases(tree)
    stack: list[tuple[ast.AST, bool]] = [(s, False) for s in tree.body]
    while stack:
        node, conditional = stack.pop()
        if _rewrites_namespace(node, aliases):
            return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if any(_rewrites_namespace(n, aliases) for d in node.decorator_list for n in ast.walk(d)):
                return None  # `@enum.global_enum` puts the members into the module
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name != "*":
                    names.add(a.asname or a.name)
                    continue
                target = _absolute(node.module or "", node.level, package)
                brought = _star_names(target, path, seen) if target is not None else None
                if brought is None and (not conditional or target is None or _exists(target, path)):
                    return None  # (a conditional one whose module does not exist here is another platform's)
                names |= brought or set()
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        inside = conditional or isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While, ast.Match))
        inside = inside or type(node).__name__ == "TryStar"
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):  # functions that declare a name global bind it in the module
            names.update(node.names)
    if "__getattr__" in names:  # attributes made on demand
        return None
    return names


def _rewrites_namespace(node: ast.AST, aliases: set[str]) -> bool:
    """Top-level code that binds module attributes no static reading sees: writes through `globals()`
    or `vars()` (or a name bound to one: `mod_dict = globals()` in `inspect`), `sys.modules[__name__]`,
    enum helpers that export members (`@enum.global_enum` in `re`, `IntEnum._convert_` in `signal`)."""

    def namespace(e: ast.AST) -> bool:
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in ("globals", "vars"):
            return True
        return isinstance(e, ast.Name) and e.id in aliases

    if isinstance(node, ast.Subscript):
        if isinstance(node.ctx, (ast.Store, ast.Del)) and namespace(node.value):
            return True
        v, key = node.value, node.slice
        own = isinstance(key, ast.Name) and key.id == "__name__"
        return own and isinstance(v, ast.Attribute) and v.attr == "modules"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr in ("update", "setdefault", "pop", "__setitem__") and namespace(node.func.value):
            return True
    if isinstance(node, ast.Name):
        return node.id in _EXPORTERS
    return isinstance(node, ast.Attribute) and node.attr in _EXPORTERS


def _namespace_aliases(tree: ast.Module) -> set[str]:
    """Top-level names bound to the module's own namespace (`g = globals()`)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id in ("globals", "vars")
        ):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _exists(name: str, path: tuple[str, ...]) -> bool:
    """Whether module `name` is there to import (built in or found on `path`)."""
    return name in sys.builtin_module_names or _find(name, path) is not None


def _absolute(module: str, level: int, package: str) -> str | None:
    """The absolute name of `from <level dots><module> import ...` inside `package`."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts) or not package:
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base) or None


def _star_names(name: str, path: tuple[str, ...], seen: tuple[str, ...]) -> set[str] | None:
    """The names `from name import *` binds: the module's `__all__` where it is a literal, otherwise
    its names without a leading underscore."""
    attrs = _attributes(name, path, seen)
    if attrs is None:
        return None
    spec = None if name in sys.builtin_module_names else _find(name, path)
    declared = _literal_all(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None
    if declared is None and name in sys.builtin_module_names:
        declared = getattr(importlib.import_module(name), "__all__", None)
    if declared is not None:
        return set(declared)
    return {n for n in attrs if not n.startswith("_")}


@lru_cache(maxsize=256)
def _literal_all(filename: str) -> tuple[str, ...] | None:
    """A module's `__all__` where its top level spells it as literal lists or tuples of strings (`=`,
    `+=`, `.extend`, `.append`); None otherwise."""
    try:
        with open(filename, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return None
    out: list[str] | None = None
    for node in _module_level(tree):
        value: ast.expr | None = None
        target = None
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t for t in targets if isinstance(t, ast.Name) and t.id == "__all__"), None)
            value = node.value
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == "__all__"
            and node.value.func.attr in ("extend", "append")
            and len(node.value.args) == 1
        ):
            target, arg = node.value.func.value, node.value.args[0]
            value = ast.List(elts=[arg], ctx=ast.Load()) if node.value.func.attr == "append" else arg
        if target is None:
            continue
        if not isinstance(value, (ast.List, ast.Tuple)) or not all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
        ):
            return None
        items = [e.value for e in value.elts]  # type: ignore[attr-defined]
        out = items if isinstance(node, ast.Assign) or out is None else [*out, *items]
    return tuple(out) if out is not None else None


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """The module's statements in source order, those inside `if`/`try`/`with` blocks included (not
    those of functions and classes)."""
    out: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            out.append(node)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return out


def module_aliases(tree: ast.Module, path: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
    """The names of `tree` that always refer to one imported module: bound at its top level only by
    imports of that module (`import a.b` binds `a`; `import a.b as c` binds `c`; `from a import b`
    where `a.b` is a module), and bound nowhere else in the file (no function, class or `global`
    rebinds them).  Pairs (name, module), sorted."""
    found: dict[str, set[str]] = {}
    rebound: set[str] = set()
    search = tuple(sys.path if path is None else path)
    stack: list[tuple[ast.AST, bool]] = [(s, True) for s in tree.body]
    while stack:
        node, top = stack.pop()
        if isinstance(node, ast.Import) and top:
            for a in node.names:
                head = a.name.split(".")[0]
                found.setdefault(a.asname or head, set()).add(a.name if a.asname else head)
            continue
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                bound = a.asname or a.name
                if top and node.level == 0 and node.module and _find(f"{node.module}.{a.name}", search) is not None:
                    found.setdefault(bound, set()).add(f"{node.module}.{a.name}")
                else:
                    rebound.add(bound)
            continue
        if isinstance(node, ast.Import):
            rebound.update(a.asname or a.name.split(".")[0] for a in node.names)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            rebound.add(node.name)
        elif isinstance(node, ast.arg):
            rebound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            rebound.add(node.id)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            rebound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            rebound.update(node.names)
        elif isinstance(node, ast.alias):
            continue
        nested = top and not isinstance(node, _SCOPES)
        stack.extend((child, nested) for child in ast.iter_child_nodes(node))
    return tuple(sorted((n, next(iter(ms))) for n, ms in found.items() if len(ms) == 1 and n not in rebound))
