"""Parser for the `.grammar` text format and expansion of context flags into concrete nonterminals.

The format is documented at the top of grammars/python.grammar.  Expansion starts at the start
symbol and instantiates only the (nonterminal, flags) pairs that are reachable, so a flag costs
states only where it actually changes something."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from astgen.errors import GrammarError
from astgen.grammar.ir import LOOKUP_MODES, SET_LOOKUPS, Constructor, Field, Grammar, Nonterminal, Segment, Terminal

__all__ = ["parse_grammar"]

_SEG = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?([?*+]?)$")
_CTOR = re.compile(r"^([A-Za-z_][A-Za-z0-9_{},]*)\((.*)\)\s*(.*)$")


@dataclass(frozen=True)
class _SegSpec:
    symbol: str
    mods: tuple[tuple[str, bool], ...]
    quant: str


@dataclass(frozen=True)
class _CtorSpec:
    name: str
    fields: tuple[tuple[str, tuple[_SegSpec, ...]], ...]
    guard: tuple[tuple[str, bool], ...]
    lenient: bool
    scopes: tuple[str, ...]
    elide: tuple[str, ...]
    line: int
    since: tuple[int, int] | None = None
    defer: str = ""
    defer_begin: bool = False
    closed: bool = False
    star: bool = False
    bare: tuple[tuple[str, str], ...] = ()  # (field, terminal): swapped in when every elided field is empty


@dataclass(frozen=True)
class _IncludeSpec:
    symbol: str
    mods: tuple[tuple[str, bool], ...]
    line: int
    exclude: tuple[str, ...] = ()


@dataclass
class _NtSpec:
    name: str
    params: tuple[str, ...]
    items: list[_CtorSpec | _IncludeSpec]
    line: int


def _err(line: int, msg: str) -> GrammarError:
    return GrammarError(f"grammar line {line}: {msg}")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets."""
    out, depth, cur = [], 0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if depth == 0 and text.startswith(sep, i):
            out.append(cur)
            cur = ""
            i += len(sep)
            continue
        cur += ch
        i += 1
    out.append(cur)
    return [p.strip() for p in out if p.strip()]


def _parse_mods(text: str | None, line: int, flags: set[str]) -> tuple[tuple[str, bool], ...]:
    if not text:
        return ()
    mods = []
    for part in text.split(","):
        part = part.strip()
        if len(part) < 2 or part[0] not in "+-" or part[1:] not in flags:
            raise _err(line, f"bad flag modifier {part!r}")
        mods.append((part[1:], part[0] == "+"))
    return tuple(mods)


def _parse_seg(text: str, line: int, flags: set[str]) -> _SegSpec:
    m = _SEG.match(text.strip())
    if not m:
        raise _err(line, f"bad segment {text!r}")
    return _SegSpec(m.group(1), _parse_mods(m.group(2), line, flags), m.group(3) or "1")


def _expand_braces(name: str) -> list[str]:
    m = re.match(r"^(.*)\{([^}]*)\}(.*)$", name)
    if not m:
        return [name]
    return [m.group(1) + alt + m.group(3) for alt in m.group(2).split(",")]


def _parse_ctor(text: str, line: int, flags: set[str], sets: set[str]) -> list[_CtorSpec]:
    m = _CTOR.match(text)
    if not m:
        raise _err(line, f"bad constructor {text!r}")
    names, body, rest = m.group(1), m.group(2), m.group(3)
    fields = []
    for part in _split_top(body, ","):
        if ":" not in part:
            raise _err(line, f"field {part!r} needs `name: segments`")
        fname, segs = part.split(":", 1)
        fields.append((fname.strip(), tuple(_parse_seg(s, line, flags) for s in _split_top(segs, "++"))))
    guard: list[tuple[str, bool]] = []
    lenient = False
    scopes: tuple[str, ...] = ()
    elide: tuple[str, ...] = ()
    since: tuple[int, int] | None = None
    defer = ""
    defer_begin = closed = star = False
    bare: list[tuple[str, str]] = []
    tokens = rest.split()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "if":
            i += 1
            while i < len(tokens) and not tokens[i].startswith("@"):
                t = tokens[i]
                if t != "&":
                    neg = t.startswith("!")
                    flag = t.lstrip("!")
                    if flag not in flags:
                        raise _err(line, f"unknown flag {flag!r} in guard")
                    guard.append((flag, not neg))
                i += 1
            continue
        if tok == "@lenient":
            lenient = True
        elif tok == "@closed":
            closed = True
        elif tok == "@star":
            star = True
        elif tok.startswith("@bare="):
            for item in tok[len("@bare=") :].split(","):
                fname, _, term = item.partition(":")
                if fname not in {f for f, _ in fields} or not term:
                    raise _err(line, f"@bare takes FIELD:TERMINAL of a known field, got {item!r}")
                bare.append((fname, term))
        elif tok.startswith("@since="):
            m_since = re.fullmatch(r"@since=3\.(\d+)", tok)
            if not m_since:
                raise _err(line, f"@since takes a Python version such as 3.12, got {tok!r}")
            since = (3, int(m_since.group(1)))
        elif tok.startswith("@defer="):
            defer, _, when = tok[len("@defer=") :].partition(":")
            if when not in ("", "begin"):
                raise _err(line, f"@defer=FIELD or @defer=FIELD:begin, got {tok!r}")
            defer_begin = when == "begin"
            if defer not in {f for f, _ in fields}:
                raise _err(line, f"@defer names unknown field {defer!r}")
        elif tok.startswith("@scope="):
            scopes = tuple(tok[len("@scope=") :].split(","))
            for s in scopes:
                if s not in sets:
                    raise _err(line, f"unknown set {s!r}")
        elif tok.startswith("@elide="):
            elide = tuple(tok[len("@elide=") :].split(","))
            field_names = {f for f, _ in fields}
            for f in elide:
                if f not in field_names:
                    raise _err(line, f"@elide names unknown field {f!r}")
            if len(elide) > 5:
                raise _err(line, "@elide takes at most five fields (it makes 2**k variants)")
        else:
            raise _err(line, f"unexpected {tok!r}")
        i += 1
    return [
        _CtorSpec(
            n,
            tuple(fields),
            tuple(guard),
            lenient,
            scopes,
            elide,
            line,
            since,
            defer,
            defer_begin,
            closed,
            star,
            tuple(bare),
        )
        for n in _expand_braces(names)
    ]


def _elision_variants(
    ctor: Constructor, elide: tuple[str, ...], line: int, bare: tuple[tuple[str, str], ...] = ()
) -> list[Constructor]:
    """The constructor itself plus one variant per non-empty subset of `elide` (those fields empty).  In
    the variant with every elided field empty, each `bare` field holds its given terminal instead."""
    by_name = {f.name: f for f in ctor.fields}
    if bare and not elide:
        raise _err(line, "@bare needs @elide (it changes the variant with every elided field empty)")
    for name in elide:
        if any(seg.quant == "1" for seg in by_name[name].segments):
            raise _err(line, f"{ctor.name}.{name} can never be empty, so it cannot be elided")
    out = [ctor]
    for mask in range(1, 1 << len(elide)):
        gone = tuple(n for k, n in enumerate(elide) if mask >> k & 1)
        fields = tuple(f for f in ctor.fields if f.name not in gone)
        if len(gone) == len(elide) and bare:
            swap = dict(bare)
            fields = tuple(
                Field(f.name, tuple(Segment(swap[f.name], s.quant) for s in f.segments)) if f.name in swap else f
                for f in fields
            )
        defer = ctor.defer
        if defer in gone:  # the bindings wait for the next field instead (where the elided one would begin)
            names = [f.name for f in ctor.fields]
            later = [n for n in names[names.index(defer) + 1 :] if n not in gone]
            defer = later[0] if later else ""
        out.append(
            replace(ctor, name=f"{ctor.name}-{'-'.join(gone)}", fields=fields, base=ctor.name, elided=gone, defer=defer)
        )
    return out


def parse_grammar(text: str, language: str) -> Grammar:
    """Parse grammar text and expand it into an immutable `Grammar`."""
    flags: list[str] = []
    sets: list[str] = []
    set_scopes: list[str] = []
    set_defers: list[str] = []
    set_lookups: list[str] = []
    terminals: dict[str, Terminal] = {}
    specs: dict[str, _NtSpec] = {}
    start: _SegSpec | None = None
    current: _NtSpec | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if raw[0] in " \t":
            if current is None:
                raise _err(lineno, "indented line outside a nonterminal")
            body = line.strip()
            if body.startswith("include "):
                target, _, excluded = body[len("include ") :].partition(" except ")
                seg = _parse_seg(target, lineno, set(flags))
                names = tuple(x.strip() for x in excluded.split(",") if x.strip())
                current.items.append(_IncludeSpec(seg.symbol, seg.mods, lineno, names))
            else:
                own = {s for s, scope in zip(sets, set_scopes) if s == scope}  # sets with markers of their own
                current.items.extend(_parse_ctor(body, lineno, set(flags), own))
            continue
        current = None
        words = line.split()
        head = words[0]
        if head == "flags":
            flags.extend(words[1:])
        elif head == "set":  # `set NAME [scope=OTHER | defers=OTHER] [lookup=MODE]` (see grammars/python.grammar)
            opts = dict(w.split("=", 1) for w in words[2:] if "=" in w)
            if set(opts) - {"scope", "defers", "lookup"} or ("scope" in opts and "defers" in opts):
                raise _err(lineno, f"set {words[1]}: takes scope= or defers=, and lookup=")
            if opts.get("lookup", "chain") not in SET_LOOKUPS:
                raise _err(lineno, f"set {words[1]}: lookup= takes one of {', '.join(SET_LOOKUPS)}")
            defers = opts.get("defers", "")
            if defers and defers not in sets:
                raise _err(lineno, f"set {words[1]}: unknown deferred set {defers!r}")
            if defers and defers in set_defers:
                raise _err(lineno, f"set {words[1]}: only one set may defer {defers!r}")
            scope = opts.get("scope", set_scopes[sets.index(defers)] if defers else words[1])
            if scope != words[1] and scope not in sets:
                raise _err(lineno, f"set {words[1]}: unknown scope set {scope!r}")
            sets.append(words[1])
            set_scopes.append(scope)
            set_defers.append(defers)
            set_lookups.append(opts.get("lookup", ""))
        elif head == "terminal":
            opts = dict(w.split("=", 1) for w in words[3:])
            known = {
                "pieces",
                "exclude",
                "distinct",
                "add",
                "notin",
                "notin_any",
                "readadd",
                "scope",
                "lookup",
                "remove",
                "lookin",
            }
            if set(opts) - known:
                raise _err(lineno, f"unknown terminal options {sorted(set(opts) - known)}")
            read_add = tuple(x for x in opts.get("readadd", "").split(":") if x)
            if "readadd" in opts and len(read_add) != 2:
                raise _err(lineno, "readadd takes SET:UNLESS, two set names")
            if opts.get("scope", "outer") != "outer":
                raise _err(lineno, f"terminal scope= takes `outer`, got {opts['scope']!r}")
            if opts.get("lookup", "load") not in LOOKUP_MODES:
                raise _err(lineno, f"terminal lookup= takes one of {', '.join(LOOKUP_MODES)}")
            for key in ("distinct", "add", "notin", "notin_any", "readadd", "remove", "lookin"):
                for s in opts.get(key, "").replace(":", ",").split(","):
                    if s and s not in sets:
                        raise _err(lineno, f"unknown set {s!r}")
            terminals[words[1]] = Terminal(
                name=words[1],
                kind=words[2],
                pieces=opts.get("pieces", words[2]),
                exclude=tuple(x for x in opts.get("exclude", "").split(",") if x),
                distinct=opts.get("distinct"),
                add=tuple(x for x in opts.get("add", "").split(",") if x),
                notin=tuple(x for x in opts.get("notin", "").split(",") if x),
                notin_any=tuple(x for x in opts.get("notin_any", "").split(",") if x),
                read_add=read_add,
                outer="scope" in opts,
                lookup=opts.get("lookup", ""),
                remove=tuple(x for x in opts.get("remove", "").split(",") if x),
                lookin=tuple(x for x in opts.get("lookin", "").split(",") if x),
            )
        elif head == "start":
            start = _parse_seg(words[1], lineno, set(flags))
        elif head == "nonterminal":
            m = re.match(r"^nonterminal\s+([A-Za-z_]\w*)\((.*)\)$", line.strip())
            if not m:
                raise _err(lineno, "expected `nonterminal NAME(flag ...)`")
            params = tuple(m.group(2).split())
            for p in params:
                if p not in flags:
                    raise _err(lineno, f"unknown flag {p!r}")
            if m.group(1) in specs or m.group(1) in terminals:
                raise _err(lineno, f"{m.group(1)} defined twice")
            current = _NtSpec(m.group(1), params, [], lineno)
            specs[current.name] = current
        else:
            raise _err(lineno, f"unknown directive {head!r}")
    if start is None:
        raise GrammarError("grammar has no `start` line")
    grammar = _Expander(flags, sets, terminals, specs).run(start, language)
    if set_scopes != sets:
        grammar = replace(grammar, set_scopes=tuple(set_scopes))
    if any(set_defers):
        grammar = replace(grammar, set_defers=tuple(set_defers))
    if any(set_lookups):
        grammar = replace(grammar, set_lookups=tuple(set_lookups))
    return grammar


class _Expander:
    def __init__(self, flags: list[str], sets: list[str], terminals: dict[str, Terminal], specs: dict[str, _NtSpec]):
        self.flag_order = {f: i for i, f in enumerate(flags)}
        self.sets = sets
        self.terminals = terminals
        self.specs = specs
        self.done: dict[str, Nonterminal] = {}
        self.todo: list[tuple[str, frozenset[str]]] = []

    def instance(self, base: str, parent_flags: frozenset[str], mods: tuple[tuple[str, bool], ...], line: int) -> str:
        if base in self.terminals:
            if mods:
                raise _err(line, f"terminal {base} takes no flags")
            return base
        spec = self.specs.get(base)
        if spec is None:
            raise _err(line, f"unknown symbol {base!r}")
        f = set(parent_flags)
        for flag, on in mods:
            (f.add if on else f.discard)(flag)
        kept = frozenset(f & set(spec.params))
        name = self.name(base, kept)
        if name not in self.done and (base, kept) not in self.todo:
            self.todo.append((base, kept))
        return name

    def name(self, base: str, flags: frozenset[str]) -> str:
        if not flags:
            return base
        return base + "[" + ",".join(sorted(flags, key=self.flag_order.__getitem__)) + "]"

    def constructors(self, base: str, flags: frozenset[str]) -> list[Constructor]:
        spec = self.specs[base]
        out: list[Constructor] = []
        for item in spec.items:
            if isinstance(item, _IncludeSpec):
                if item.symbol not in self.specs:
                    raise _err(item.line, f"cannot include {item.symbol!r}: not a nonterminal")
                included = self.constructors(item.symbol, self.flags_of(item.symbol, flags, item.mods))
                out.extend(c for c in included if c.base not in item.exclude)
                continue
            for flag, _ in item.guard:
                if flag not in spec.params:
                    raise _err(item.line, f"guard flag {flag!r} is not a parameter of {base}")
            if any((flag in flags) != want for flag, want in item.guard):
                continue
            fields = tuple(Field(fname, self.segments(segs, flags, item.line)) for fname, segs in item.fields)
            for _, term in item.bare:
                if term not in self.terminals:
                    raise _err(item.line, f"@bare names unknown terminal {term!r}")
            ctor = Constructor(
                item.name,
                fields,
                item.lenient,
                item.scopes,
                since=item.since,
                defer=item.defer,
                defer_begin=item.defer_begin,
                closed=item.closed,
                star=item.star,
            )
            out.extend(_elision_variants(ctor, item.elide, item.line, item.bare))
        return out

    def flags_of(self, base: str, parent: frozenset[str], mods: tuple[tuple[str, bool], ...]) -> frozenset[str]:
        f = set(parent)
        for flag, on in mods:
            (f.add if on else f.discard)(flag)
        return frozenset(f & set(self.specs[base].params))

    def segments(self, segs: tuple[_SegSpec, ...], flags: frozenset[str], line: int) -> tuple[Segment, ...]:
        out: list[Segment] = []
        for s in segs:
            sym = self.instance(s.symbol, flags, s.mods, line)
            if s.quant == "+":
                out.extend([Segment(sym, "1"), Segment(sym, "*")])
            else:
                out.append(Segment(sym, s.quant))  # type: ignore[arg-type]
        return tuple(out)

    def run(self, start: _SegSpec, language: str) -> Grammar:
        start_name = self.instance(start.symbol, frozenset(), start.mods, 0)
        while self.todo:
            base, flags = self.todo.pop()
            name = self.name(base, flags)
            if name in self.done:
                continue
            ctors = self.constructors(base, flags)
            seen: set[str] = set()
            for c in ctors:
                if c.name in seen:
                    raise _err(self.specs[base].line, f"{name}: constructor {c.name} is ambiguous")
                seen.add(c.name)
            if not ctors:
                raise _err(self.specs[base].line, f"{name} has no constructors in this context")
            ordered = tuple(sorted(flags, key=self.flag_order.__getitem__))
            self.done[name] = Nonterminal(name, base, ordered, tuple(ctors))
        nts = tuple(self.done[k] for k in sorted(self.done))
        return Grammar(language, start_name, nts, tuple(self.terminals.values()), tuple(self.sets))
