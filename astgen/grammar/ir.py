"""Typed, immutable grammar IR: nonterminal instances (context flags already applied), constructors,
fields made of segments, terminal classes and symbol sets.  Pure Python, no torch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "LOOKUP_MODES",
    "SET_LOOKUPS",
    "Constructor",
    "Field",
    "Grammar",
    "Nonterminal",
    "Quantifier",
    "Segment",
    "Terminal",
]

Quantifier = Literal["1", "?", "*"]


@dataclass(frozen=True)
class Segment:
    """One run of a field's value: exactly one, an optional one, or any number of `symbol`."""

    symbol: str
    quant: Quantifier


@dataclass(frozen=True)
class Field:
    """A named child slot; a list field may be a concatenation of several segments."""

    name: str
    segments: tuple[Segment, ...]

    @property
    def is_list(self) -> bool:
        return len(self.segments) > 1 or self.segments[0].quant == "*"

    @property
    def is_optional(self) -> bool:
        return len(self.segments) == 1 and self.segments[0].quant == "?"


@dataclass(frozen=True)
class Constructor:
    """One way to expand a nonterminal; `name` is the action the model predicts.

    `base` is the grammar-tree constructor it builds; a variant made by @elide has base != name and
    leaves out `elided` fields, which are empty (saving the `<stop>` each would otherwise cost)."""

    name: str
    fields: tuple[Field, ...]
    lenient: bool = False
    scopes: tuple[str, ...] = ()
    base: str = ""
    elided: tuple[str, ...] = ()
    since: tuple[int, int] | None = None  # the first Python version whose syntax has it (None: every version)
    # a field (one required segment) whose completion releases the bindings made in the fields before it
    # (`x = x`: the target binds only once the value is read; see Grammar.set_defers)
    defer: str = ""
    # the @defer field releases those bindings when it begins instead (a def's parameters and name are
    # visible in its body, not in its defaults, annotations or decorators)
    defer_begin: bool = False
    # its scope is closed: names bound directly in it are not seen from scopes nested in it (a class body)
    closed: bool = False
    # after it, a load may name anything (`from m import *`)
    star: bool = False

    def __post_init__(self) -> None:
        if not self.base:
            object.__setattr__(self, "base", self.name)


@dataclass(frozen=True)
class Nonterminal:
    """A nonterminal instantiated with a concrete set of context flags."""

    name: str
    base: str
    flags: tuple[str, ...]
    constructors: tuple[Constructor, ...]

    def constructor(self, name: str) -> Constructor | None:
        for ctor in self.constructors:
            if ctor.name == name:
                return ctor
        return None

    def variants(self, base: str) -> tuple[Constructor, ...]:
        """All constructors (elision variants included) that build grammar-tree node `base`."""
        return tuple(c for c in self.constructors if c.base == base)


@dataclass(frozen=True)
class Terminal:
    """A terminal class: its lexical kind, piece tokenizer and symbol-set behaviour."""

    name: str
    kind: str
    pieces: str
    exclude: tuple[str, ...] = ()
    distinct: str | None = None
    add: tuple[str, ...] = ()
    notin: tuple[str, ...] = ()
    notin_any: tuple[str, ...] = ()
    # (S, U): a name that ends while it is in neither S nor U (in scope, inside some scope of S) joins S
    read_add: tuple[str, ...] = ()
    # its set checks and additions use the scope around the innermost one (a def's name binds outside it)
    outer: bool = False
    # strict sampling may only spell a name visible here (see LOOKUP_MODES); "" = any name
    lookup: str = ""
    # sets its name leaves when it ends (`del x` unbinds x in its scope)
    remove: tuple[str, ...] = ()
    # the sets a lookup reads (empty: every set with a lookup mode)
    lookin: tuple[str, ...] = ()


# Where a lookup terminal finds its candidates: "load" any binding visible through the scope chain (and
# the builtins), "local" only the current scope's, "enclosing" only enclosing function scopes' (nonlocal).
LOOKUP_MODES = ("load", "local", "enclosing")
# How a set's entries are visible to lookups: "chain" through the scope chain, "alive" while they exist.
SET_LOOKUPS = ("chain", "alive")


@dataclass(frozen=True)
class Grammar:
    """The whole grammar after flag expansion; immutable and content-hashed."""

    language: str
    start: str
    nonterminals: tuple[Nonterminal, ...]
    terminals: tuple[Terminal, ...]
    sets: tuple[str, ...]
    # per set, the set whose scope markers also scope it (its own name for most sets)
    set_scopes: tuple[str, ...] = ()
    # per set, the set whose additions it holds back ("" for most sets): while a constructor's @defer field
    # is still ahead, names that would join that set join this one instead, and move over when it completes
    set_defers: tuple[str, ...] = ()
    # per set, how lookup terminals see its entries (see SET_LOOKUPS; "" = not at all)
    set_lookups: tuple[str, ...] = ()
    _index: dict[str, Nonterminal | Terminal] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for nt in self.nonterminals:
            self._index[nt.name] = nt
        for t in self.terminals:
            self._index[t.name] = t

    @property
    def scope_sets(self) -> tuple[str, ...]:
        """For each set, the set whose markers open and close its scopes."""
        return self.set_scopes or self.sets

    def symbol(self, name: str) -> Nonterminal | Terminal:
        return self._index[name]

    def is_terminal(self, name: str) -> bool:
        return isinstance(self._index[name], Terminal)

    def nonterminal(self, name: str) -> Nonterminal:
        sym = self._index[name]
        if not isinstance(sym, Nonterminal):
            raise TypeError(f"{name} is a terminal")
        return sym

    def terminal(self, name: str) -> Terminal:
        sym = self._index[name]
        if not isinstance(sym, Terminal):
            raise TypeError(f"{name} is a nonterminal")
        return sym

    @property
    def constructor_names(self) -> tuple[str, ...]:
        """Every distinct constructor name, sorted: the grammar's structural action vocabulary."""
        return tuple(sorted({c.name for nt in self.nonterminals for c in nt.constructors}))

    def to_json(self) -> str:
        """A canonical JSON rendering, the basis of the content hash."""
        data = {
            "language": self.language,
            "start": self.start,
            "sets": list(self.sets),
            "set_scopes": list(self.scope_sets),
            **({"set_defers": list(self.set_defers)} if any(self.set_defers) else {}),
            **({"set_lookups": list(self.set_lookups)} if any(self.set_lookups) else {}),
            "terminals": [t.__dict__ for t in self.terminals],
            "nonterminals": [
                {
                    "name": nt.name,
                    "constructors": [
                        {
                            "name": c.name,
                            "base": c.base,
                            "elided": list(c.elided),
                            "lenient": c.lenient,
                            **({"since": list(c.since)} if c.since else {}),
                            "scopes": list(c.scopes),
                            **({"defer": c.defer} if c.defer else {}),
                            **({"defer_begin": True} if c.defer_begin else {}),
                            **({"closed": True} if c.closed else {}),
                            **({"star": True} if c.star else {}),
                            "fields": [[f.name, [[s.symbol, s.quant] for s in f.segments]] for f in c.fields],
                        }
                        for c in nt.constructors
                    ],
                }
                for nt in self.nonterminals
            ],
        }
        return json.dumps(data, sort_keys=True, default=list)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]
