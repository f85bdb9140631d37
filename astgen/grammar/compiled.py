"""`compile(grammar, pieces) -> CompiledGrammar`: the grammar as a table-driven pushdown automaton.

Stack symbols are nonterminal instances, optional/list wrappers, scope markers, the terminal
automata's states (one copy per terminal class) and DONE.  For every (symbol, action) there is at
most one rule: pop the symbol, push up to K symbols.  Alongside the rules the compiler computes
what makes budgets exact: the minimum number of actions that completes each symbol, and the
tree depth / block nesting each rule needs to complete.  Everything is numpy (no torch), saved
with safetensors, and content-hashed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from astgen.errors import GrammarError
from astgen.grammar.actions import CLOSE, END, EOS, MORE, STOP, ActionVocabulary
from astgen.grammar.ir import LOOKUP_MODES, SET_LOOKUPS, Constructor, Grammar, Segment
from astgen.grammar.lexical import PieceDFA, build_kind, lift
from astgen.grammar.pieces import PieceVocabulary

__all__ = ["CompiledGrammar", "compile_grammar"]

_INF = 1 << 20
# Statement-like nonterminals, and the constructors whose bodies CPython's compiler counts as a block
# ("too many statically nested blocks", limit 20): loops, try and with.  `if`/`elif` are not blocks.
_BLOCK_BASES = frozenset({"stmt", "body", "decl", "handler", "bare_handler", "star_handler", "match_case"})
_BLOCK_CTORS = frozenset(
    {
        "For",
        "AsyncFor",
        "While",
        "With",
        "AsyncWith",
        "Try",
        "TryBare",
        "TryFinally",
        "TryStar",
        "ExceptHandler",
        "ExceptHandlerBare",
    }
)
_HASH_MOD = (1 << 31) - 1
_HASH_MUL = 1_000_003


def _byte_hash(data: bytes) -> tuple[int, int]:
    """(hash, MUL**len) of `data`: hash(a + b) == hash(a) * pow(b) + hash(b) (mod _HASH_MOD), which is
    how the matcher rolls a terminal's hash piece by piece."""
    h, pw = 0, 1
    for b in data:
        h = (h * _HASH_MUL + b + 1) % _HASH_MOD
        pw = (pw * _HASH_MUL) % _HASH_MOD
    return h, pw


@dataclass(frozen=True, eq=False)
class CompiledGrammar:
    """Immutable tables of the pushdown automaton (numpy arrays) plus names for reading them.

    Symbols: ids [0, n_grammar) are DONE, nonterminals, wrappers and markers; ids from
    `dfa_base` on are terminal-automaton states.  Actions: specials, constructors, pieces."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, object]
    symbol_names: tuple[str, ...]
    vocab: ActionVocabulary
    _hash: str = field(default="", compare=False)

    # sizes
    @property
    def n_symbols(self) -> int:
        return len(self.symbol_names)

    @property
    def n_actions(self) -> int:
        return len(self.vocab)

    @property
    def dfa_base(self) -> int:
        return int(self.meta["dfa_base"])  # type: ignore[call-overload]

    @property
    def start_symbol(self) -> int:
        return int(self.meta["start_symbol"])  # type: ignore[call-overload]

    @property
    def grammar_hash(self) -> str:
        return str(self.meta["grammar_hash"])

    @property
    def content_hash(self) -> str:
        """Stable hash of every table and name (what a checkpoint pins)."""
        if not self._hash:
            h = hashlib.sha256()
            for key in sorted(self.arrays):
                a = np.ascontiguousarray(self.arrays[key])
                h.update(key.encode())
                h.update(str(a.dtype).encode())
                h.update(str(a.shape).encode())
                h.update(a.tobytes())
            h.update(json.dumps(self._meta_json(), sort_keys=True).encode())
            object.__setattr__(self, "_hash", h.hexdigest()[:16])
        return self._hash

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledGrammar) and other.content_hash == self.content_hash

    def _meta_json(self) -> dict[str, object]:
        return {
            "meta": self.meta,
            "symbols": list(self.symbol_names),
            "constructors": list(self.vocab.constructors),
            "pieces": [p.hex() for p in self.vocab.pieces],
        }

    def save(self, path: str | Path) -> None:
        """Write tables to `<path>` (safetensors; names and metadata as JSON in its header)."""
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v) for k, v in self.arrays.items()},
            str(path),
            metadata={"astgen": json.dumps(self._meta_json()), "content_hash": self.content_hash},
        )

    @classmethod
    def load(cls, path: str | Path) -> CompiledGrammar:
        from safetensors import safe_open

        arrays: dict[str, np.ndarray] = {}
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            header = json.loads(metadata["astgen"])
            for k in f.keys():
                arrays[k] = f.get_tensor(k)
        vocab = ActionVocabulary(tuple(header["constructors"]), tuple(bytes.fromhex(p) for p in header["pieces"]))
        # the hash the file was saved with (hashing 60 MB of tables again costs more than loading them)
        return cls(arrays, header["meta"], tuple(header["symbols"]), vocab, metadata.get("content_hash", ""))

    def name_hash(self, name: bytes) -> int:
        """The symbol-set hash of a terminal spelled as `name`: the matcher's rolling hash of its bytes up
        to the first `.` (`import a.b` binds `a`)."""
        return _byte_hash(name.split(b".", 1)[0])[0]

    def set_index(self, name: str) -> int:
        """The index of the symbol set `name` (KeyError if the grammar has none)."""
        return list(self.meta["sets"]).index(name)  # type: ignore[call-overload]

    def action_name(self, action: int) -> str:
        return self.vocab.name(action)

    def allowed_counts(self, strict: bool = False) -> np.ndarray:
        """How many actions each symbol allows ([n_symbols]; 1 = a forced step), computed once."""
        key = "_n_allowed_strict" if strict else "_n_allowed"
        cached = self.__dict__.get(key)
        if cached is None:
            bits = self.arrays["strict_bits" if strict else "allowed_bits"].view(np.uint32)
            cached = np.unpackbits(bits.view(np.uint8), axis=1).sum(axis=1)
            object.__setattr__(self, key, cached)  # a derived cache; the tables themselves stay frozen
        return cached  # type: ignore[no-any-return]


class _Builder:
    def __init__(self, grammar: Grammar, pieces: PieceVocabulary, max_push: int):
        self.g = grammar
        self.vocab = ActionVocabulary(grammar.constructor_names, pieces.pieces)
        self.pieces = pieces
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.rules: dict[tuple[int, int], tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bool, int]] = {}
        self.max_push = max_push
        self.sets = {s: i for i, s in enumerate(grammar.sets)}
        self.marker_set: dict[int, int] = {}
        self.base_of: dict[int, str] = {}
        self.rule_defer: dict[tuple[int, int], int] = {}  # (symbol, action) -> push index of its @defer field
        self.rule_flags: dict[tuple[int, int], tuple[bool, bool, bool]] = {}  # -> (defer_begin, closed, star)

    def sym(self, name: str) -> int:
        if name not in self.ids:
            self.ids[name] = len(self.names)
            self.names.append(name)
        return self.ids[name]

    def seg_symbol(self, seg: Segment) -> str:
        if seg.quant == "1":
            return seg.symbol if not self.g.is_terminal(seg.symbol) else f"{seg.symbol}@0"
        return f"{'Opt' if seg.quant == '?' else 'Seq'}({seg.symbol})"

    def ctor_push(self, nt_base: str, ctor: Constructor) -> tuple[list[str], list[int], list[int], int]:
        """Symbols pushed by a constructor (bottom to top), with tree-depth and block increments, and the
        push index of its @defer field (-1: none)."""
        if len(ctor.scopes) > 2:
            raise GrammarError(f"{ctor.name}: at most two scopes per constructor (the matcher opens two per step)")
        syms: list[str] = [f"Marker({s})" for s in ctor.scopes]
        tree = [1] * len(syms)
        block = [0] * len(syms)
        defer = -1
        for f in reversed(ctor.fields):
            if f.name == ctor.defer:
                # the field's last segment completes last; its first (pushed last, on top) begins first
                defer = len(syms) + (len(f.segments) - 1 if ctor.defer_begin else 0)
            for seg in reversed(f.segments):
                name = self.seg_symbol(seg)
                syms.append(name)
                tree.append(1)
                child = seg.symbol
                child_base = child if self.g.is_terminal(child) else self.g.nonterminal(child).base
                block.append(int(ctor.base in _BLOCK_CTORS and child_base in _BLOCK_BASES))
        return syms, tree, block, defer

    def build(self) -> CompiledGrammar:
        g = self.g
        self.sym("DONE")
        start = self.sym(g.start)
        work = [g.start]
        seen = {g.start}
        ctor_id = self.vocab.ctor_id

        def want(name: str) -> int:
            if name not in seen:
                seen.add(name)
                work.append(name)
            return self.sym(name)

        self.rules[(0, EOS)] = ((0,), (0,), (0,), False, 0)
        while work:
            name = work.pop()
            sid = self.sym(name)
            if name.startswith("Marker("):
                self.marker_set[sid] = self.sets[name[7:-1]]
                self.rules[(sid, CLOSE)] = ((), (), (), False, 0)
                continue
            if name.startswith(("Opt(", "Seq(")):
                inner = name[4:-1]
                is_seq = name.startswith("Seq(")
                self.rules[(sid, STOP)] = ((), (), (), False, 0)
                if g.is_terminal(inner):
                    term = want(f"{inner}@0")
                    if is_seq:
                        self.rules[(sid, MORE)] = ((sid, term), (0, 1), (0, 0), False, 0)
                    else:
                        self.rules[(sid, MORE)] = ((term,), (1,), (0,), False, 0)
                    continue
                nt_name, in_list = inner, is_seq
            elif "@" in name:
                continue  # terminal automaton states are added below
            else:
                nt_name, in_list = name, False
            nt = g.nonterminal(nt_name)
            self.base_of[sid] = nt.base
            for ctor in nt.constructors:
                syms, tree, block, defer = self.ctor_push(nt.base, ctor)
                ids = [want(s) for s in syms]
                # a list element's children sit one level below the element (which sits at the list's level)
                if in_list:
                    ids, tree, block = [sid, *ids], [0, *tree], [0, *block]
                    defer += defer >= 0
                if defer >= 0:
                    self.rule_defer[(sid, ctor_id(ctor.name))] = defer
                self.rule_flags[(sid, ctor_id(ctor.name))] = (ctor.defer_begin, ctor.closed, ctor.star)
                since = _version_code(ctor.since)
                self.rules[(sid, ctor_id(ctor.name))] = (tuple(ids), tuple(tree), tuple(block), ctor.lenient, since)
        return self.tables(start)

    def tables(self, start: int) -> CompiledGrammar:
        g = self.g
        vocab = self.vocab
        n_struct = vocab.piece_base
        n_pieces = len(vocab.pieces)
        # ------------------------------------------------ terminal automata
        terminals = [t for t in g.terminals if f"{t.name}@0" in self.ids]
        kinds: dict[tuple[str, tuple[str, ...]], int] = {}
        kind_dfas: list[PieceDFA] = []
        for t in terminals:
            key = (t.kind, t.exclude)
            if key not in kinds:
                kinds[key] = len(kind_dfas)
                kind_dfas.append(lift(build_kind(t.kind, t.exclude), vocab.pieces))
        kind_offset = np.cumsum([0] + [d.next.shape[0] for d in kind_dfas])
        n_local = int(kind_offset[-1])
        kind_next = np.full((n_local, n_pieces), -1, dtype=np.int32)
        kind_accept = np.zeros(n_local, dtype=bool)
        for k, d in enumerate(kind_dfas):
            o = kind_offset[k]
            kind_next[o : o + d.next.shape[0]] = np.where(d.next >= 0, d.next + o, -1)
            kind_accept[o : o + d.next.shape[0]] = d.accept
        # mincost of automaton states: pieces to an accepting state, plus the <end>
        local_cost = np.where(kind_accept, 1, _INF).astype(np.int64)
        for _ in range(n_local + 1):
            via = np.where(kind_next >= 0, local_cost[np.maximum(kind_next, 0)] + 1, _INF).min(axis=1)
            new = np.minimum(local_cost, via)
            if np.array_equal(new, local_cost):
                break
            local_cost = new
        # relabel: grammar symbols first, then for each terminal its automaton states
        old_ids = {n: i for i, n in enumerate(self.names)}
        grammar_names = [n for n in self.names if "@" not in n]
        names = list(grammar_names)
        remap = {old_ids[n]: i for i, n in enumerate(grammar_names)}
        dfa_base = len(names)
        term_index = {t.name: i for i, t in enumerate(terminals)}
        sym_local, sym_shift, sym_term = [], [], []
        for t in terminals:
            k = kinds[(t.kind, t.exclude)]
            o = int(kind_offset[k])
            n_states = kind_dfas[k].next.shape[0]
            base = len(names)
            for s in range(n_states):
                if s == 0:
                    remap[old_ids[f"{t.name}@0"]] = base
                names.append(f"{t.name}@{s}")
                sym_local.append(o + s)
                sym_shift.append(base - o)
                sym_term.append(term_index[t.name])
        n_sym = len(names)
        n_dfa = n_sym - dfa_base
        K = max(len(r[0]) for r in self.rules.values())
        if K > self.max_push:
            raise GrammarError(f"a rule pushes {K} symbols; raise max_push")
        # ------------------------------------------------ structural rules
        rules = sorted(self.rules.items())
        n_rules = len(rules) + 1  # rule 0: invalid
        rule_push = np.zeros((n_rules, K), dtype=np.int32)
        rule_len = np.zeros(n_rules, dtype=np.int32)
        rule_tree = np.zeros((n_rules, K), dtype=np.int32)
        rule_block = np.zeros((n_rules, K), dtype=np.int32)
        rule_strict = np.zeros(n_rules, dtype=bool)
        rule_since = np.zeros(n_rules, dtype=np.int32)  # 312: Python 3.12 syntax; 0: every version
        rule_defer = np.full(n_rules, -1, dtype=np.int32)  # push index of the rule's @defer field
        rule_defer_begin = np.zeros(n_rules, dtype=bool)  # its @defer field releases when it begins
        rule_closed = np.zeros(n_rules, dtype=bool)  # its scope markers are closed (a class body)
        rule_star = np.zeros(n_rules, dtype=bool)  # after it any load is allowed (`from m import *`)
        rule_table = np.zeros((dfa_base, n_struct), dtype=np.int32)
        for i, ((s, a), (push, tree, block, lenient, since)) in enumerate(rules, 1):
            ids = [remap[p] for p in push]
            rule_push[i, : len(ids)] = ids
            rule_len[i] = len(ids)
            rule_tree[i, : len(ids)] = tree
            rule_block[i, : len(ids)] = block
            rule_strict[i] = not lenient
            rule_since[i] = since
            rule_defer[i] = self.rule_defer.get((s, a), -1)
            rule_defer_begin[i], rule_closed[i], rule_star[i] = self.rule_flags.get((s, a), (False, False, False))
            rule_table[remap[s], a] = i
        # ------------------------------------------------ costs and needs (fixpoints), per mode
        dfa_cost = local_cost[np.array(sym_local, dtype=np.int64)] if n_dfa else np.zeros(0, dtype=np.int64)

        def recost(usable: np.ndarray) -> dict[str, np.ndarray]:
            return _costs(
                rules, remap, rule_table, rule_push, rule_len, rule_tree, rule_block, usable,
                dfa_base, n_sym, n_struct, dfa_cost, names,
            )  # fmt: skip

        costs = {
            mode: recost(usable) for mode, usable in (("", np.ones(n_rules, dtype=bool)), ("strict_", rule_strict))
        }
        _check_versions(costs, rule_since, rule_strict, recost)
        gr = rule_table
        # ------------------------------------------------ allowed masks (bit-packed)
        allowed = np.zeros((n_sym, len(vocab)), dtype=bool)
        strict = np.zeros((n_sym, len(vocab)), dtype=bool)
        allowed[:dfa_base, :n_struct] = gr > 0
        strict[:dfa_base, :n_struct] = (gr > 0) & rule_strict[gr]
        loc = np.array(sym_local, dtype=np.int64)
        allowed[dfa_base:, n_struct:] = kind_next[loc] >= 0
        allowed[dfa_base:, END] = kind_accept[loc]
        strict[dfa_base:] = allowed[dfa_base:]
        # ------------------------------------------------ symbol sets
        n_sets = len(g.sets)
        term_same = np.zeros((len(terminals), max(n_sets, 1)), dtype=bool)
        term_any = np.zeros((len(terminals), max(n_sets, 1)), dtype=bool)
        term_add = np.zeros((len(terminals), max(n_sets, 1)), dtype=bool)
        for i, t in enumerate(terminals):
            if t.distinct:
                term_same[i, self.sets[t.distinct]] = True
                term_add[i, self.sets[t.distinct]] = True
            for name in t.notin:
                term_same[i, self.sets[name]] = True
            for name in t.notin_any:
                term_any[i, self.sets[name]] = True
            for name in t.add:
                term_add[i, self.sets[name]] = True
        term_readadd = np.full(max(len(terminals), 1), -1, dtype=np.int32)
        term_readunless = np.full(max(len(terminals), 1), -1, dtype=np.int32)
        for i, t in enumerate(terminals):
            if t.read_add:
                term_readadd[i], term_readunless[i] = self.sets[t.read_add[0]], self.sets[t.read_add[1]]
        term_outer = np.array([t.outer for t in terminals] or [False], dtype=bool)
        # lookups: per terminal 1 + its index in LOOKUP_MODES (0: spells any name); per set 1 + SET_LOOKUPS index
        term_lookup = np.array([LOOKUP_MODES.index(t.lookup) + 1 if t.lookup else 0 for t in terminals] or [0])
        term_remove = np.zeros((len(terminals), max(n_sets, 1)), dtype=bool)
        for i, t in enumerate(terminals):
            for name in t.remove:
                term_remove[i, self.sets[name]] = True
        set_lookup = np.zeros(max(n_sets, 1), dtype=np.int32)
        for i, mode in enumerate(g.set_lookups):
            if mode:
                set_lookup[i] = SET_LOOKUPS.index(mode) + 1
        term_lookin = np.zeros((len(terminals) or 1, max(n_sets, 1)), dtype=bool)
        for i, t in enumerate(terminals):
            if t.lookin:
                for name in t.lookin:
                    term_lookin[i, self.sets[name]] = True
            else:
                term_lookin[i] = set_lookup > 0
        set_scope = np.array([self.sets[s] for s in g.scope_sets], dtype=np.int32).reshape(-1)
        if set_scope.size == 0:
            set_scope = np.zeros(1, dtype=np.int32)
        set_defer = np.full(max(n_sets, 1), -1, dtype=np.int32)  # per set: the set it holds additions back for
        for i, other in enumerate(g.set_defers):
            if other:
                set_defer[i] = self.sets[other]
        marker_set = np.full(n_sym, -1, dtype=np.int32)
        for old, k in self.marker_set.items():
            marker_set[remap[old]] = k
        # piece hashes over bytes (so a name hashes the same however it is split into pieces)
        piece_hash = np.zeros(n_pieces, dtype=np.int64)
        piece_pow = np.zeros(n_pieces, dtype=np.int64)
        # and of the bytes before a piece's first `.` (a dotted name's hash is its head's)
        piece_head_hash = np.zeros(n_pieces, dtype=np.int64)
        piece_head_pow = np.zeros(n_pieces, dtype=np.int64)
        piece_dot = np.array([b"." in p for p in vocab.pieces] or [False], dtype=bool)
        piece_dot_first = np.array([p.startswith(b".") for p in vocab.pieces] or [False], dtype=bool)
        for i, p in enumerate(vocab.pieces):
            piece_hash[i], piece_pow[i] = _byte_hash(p)
            piece_head_hash[i], piece_head_pow[i] = _byte_hash(p.split(b".", 1)[0])
        is_start = np.zeros(n_sym, dtype=bool)
        for i, n in enumerate(names):
            if i >= dfa_base and n.endswith("@0"):
                is_start[i] = True
        arrays = {
            "allowed_bits": _pack(allowed),
            "strict_bits": _pack(strict),
            "rule_table": rule_table,
            "rule_push": rule_push,
            "rule_len": rule_len,
            "rule_tree": rule_tree,
            "rule_block": rule_block,
            **{f"{mode}{k}": v for mode, tables in costs.items() for k, v in tables.items()},
            "kind_next": kind_next,
            "kind_cost": np.minimum(local_cost, _INF).astype(np.int32),
            "sym_local": np.concatenate([np.zeros(dfa_base, dtype=np.int32), np.array(sym_local, dtype=np.int32)]),
            "sym_shift": np.concatenate([np.zeros(dfa_base, dtype=np.int32), np.array(sym_shift, dtype=np.int32)]),
            "sym_term": np.concatenate([np.full(dfa_base, -1, dtype=np.int32), np.array(sym_term, dtype=np.int32)]),
            "is_term_start": is_start,
            "term_same": term_same,
            "term_any": term_any,
            "term_add": term_add,
            "marker_set": marker_set,
            "set_scope": set_scope,
            "set_defer": set_defer,
            "term_outer": term_outer,
            "term_lookup": term_lookup.astype(np.int32),
            "term_remove": term_remove,
            "term_lookin": term_lookin,
            "set_lookup": set_lookup,
            "rule_defer_begin": rule_defer_begin,
            "rule_closed": rule_closed,
            "rule_star": rule_star,
            "rule_defer": rule_defer,
            "term_readadd": term_readadd,
            "term_readunless": term_readunless,
            "rule_since": rule_since,
            "piece_hash": piece_hash,
            "piece_pow": piece_pow,
            "piece_head_hash": piece_head_hash,
            "piece_head_pow": piece_head_pow,
            "piece_dot": piece_dot,
            "piece_dot_first": piece_dot_first,
        }
        meta: dict[str, object] = {
            "language": g.language,
            "grammar_hash": g.content_hash,
            "dfa_base": dfa_base,
            "start_symbol": remap[start],
            "n_sets": n_sets,
            "sets": list(g.sets),
            "terminals": [t.name for t in terminals],
            "terminal_kinds": [t.kind for t in terminals],
            "hash_mod": _HASH_MOD,
        }
        return CompiledGrammar(arrays, meta, tuple(names), vocab)


def _costs(
    rules: list,
    remap: dict[int, int],
    rule_table: np.ndarray,
    rule_push: np.ndarray,
    rule_len: np.ndarray,
    rule_tree: np.ndarray,
    rule_block: np.ndarray,
    usable: np.ndarray,
    dfa_base: int,
    n_sym: int,
    n_struct: int,
    dfa_cost: np.ndarray,
    names: list[str],
) -> dict[str, np.ndarray]:
    """Minimum actions to complete each symbol, and the tree depth / block nesting each rule needs to
    complete, using only `usable` rules (strict sampling may not use lenient ones)."""
    K = rule_push.shape[1]
    mincost = np.full(n_sym, _INF, dtype=np.int64)
    mincost[dfa_base:] = dfa_cost
    mincost[0] = 0
    sym_rules: list[list[int]] = [[] for _ in range(dfa_base)]
    for i, ((s, _a), _r) in enumerate(rules, 1):
        if s != 0 and usable[i]:  # DONE loops on <eos> forever; it costs nothing more
            sym_rules[remap[s]].append(i)
    need_tree = np.full(n_sym, _INF, dtype=np.int64)
    need_block = np.full(n_sym, _INF, dtype=np.int64)
    need_tree[dfa_base:] = need_block[dfa_base:] = 0
    need_tree[0] = need_block[0] = 0
    mask_k = np.arange(K)[None, :] < rule_len[:, None]
    while True:
        push_cost = np.minimum(np.where(mask_k, mincost[rule_push], 0).sum(axis=1) + 1, _INF)
        t_need = np.minimum(np.where(mask_k, rule_tree + need_tree[rule_push], 0).max(axis=1, initial=0), _INF)
        b_need = np.minimum(np.where(mask_k, rule_block + need_block[rule_push], 0).max(axis=1, initial=0), _INF)
        changed = False
        for s in range(dfa_base):
            rs = sym_rules[s]
            if not rs:
                continue
            c = min(int(push_cost[r]) for r in rs)
            t = min(int(t_need[r]) for r in rs)
            b = min(int(b_need[r]) for r in rs)
            if c < mincost[s] or t < need_tree[s] or b < need_block[s]:
                mincost[s] = min(mincost[s], c)
                need_tree[s] = min(need_tree[s], t)
                need_block[s] = min(need_block[s], b)
                changed = True
        if not changed:
            break
    bad = [names[s] for s in range(1, dfa_base) if mincost[s] >= _INF and sym_rules[s]]
    if bad:
        raise GrammarError(f"symbols that can never complete: {bad[:5]}")
    rule_cost = np.where(mask_k, mincost[rule_push], 0).sum(axis=1) + 1
    rule_need_tree = np.where(mask_k, rule_tree + need_tree[rule_push], 0).max(axis=1, initial=0)
    rule_need_block = np.where(mask_k, rule_block + need_block[rule_push], 0).max(axis=1, initial=0)
    extra = np.zeros((n_sym, n_struct), dtype=np.int32)
    need_t = np.zeros((n_sym, n_struct), dtype=np.int32)
    need_b = np.zeros((n_sym, n_struct), dtype=np.int32)
    gr = rule_table
    extra[:dfa_base] = np.clip(np.where(gr > 0, rule_cost[gr] - mincost[:dfa_base, None], 0), -_INF, _INF)
    need_t[:dfa_base] = np.clip(np.where(gr > 0, rule_need_tree[gr], 0), 0, _INF)
    need_b[:dfa_base] = np.clip(np.where(gr > 0, rule_need_block[gr], 0), 0, _INF)
    extra[dfa_base:, END] = 1 - mincost[dfa_base:]
    extra[0, EOS] = 0
    return {
        "mincost": np.minimum(mincost, _INF).astype(np.int32),
        "extra": extra,
        "need_tree": need_t,
        "need_block": need_b,
    }


def _version_code(since: tuple[int, int] | None) -> int:
    return 0 if since is None else since[0] * 100 + since[1]


def _check_versions(costs: dict, rule_since: np.ndarray, rule_strict: np.ndarray, recost: Any) -> None:
    """A target version masks the rules of newer syntax; the completion costs (computed with every rule)
    stay exact only if no symbol's cheapest completion needs newer syntax.  Checked per version."""
    for code in sorted({int(c) for c in rule_since if c}):
        older = rule_since < code
        for mode, usable in (("", older), ("strict_", older & rule_strict)):
            restricted = recost(usable)["mincost"]
            full = costs[mode]["mincost"]
            reachable = restricted < _INF
            if not np.array_equal(restricted[reachable], full[reachable]):
                bad = int(np.flatnonzero(reachable & (restricted != full))[0])
                raise GrammarError(
                    f"symbol {bad}: its cheapest completion needs syntax of Python {code // 100}.{code % 100}; "
                    "give it an older way to complete as cheaply"
                )


def _pack(mask: np.ndarray) -> np.ndarray:
    """Pack a bool [S, A] mask into int32 words [S, ceil(A/32)], bit j of word w = action 32*w+j."""
    s, a = mask.shape
    w = (a + 31) // 32
    padded = np.zeros((s, w * 32), dtype=np.uint64)
    padded[:, :a] = mask
    weights = np.uint64(1) << np.arange(32, dtype=np.uint64)
    words = (padded.reshape(s, w, 32) * weights).sum(axis=2)
    return words.astype(np.uint32).view(np.int32)


def compile_grammar(grammar: Grammar, pieces: PieceVocabulary, max_push: int = 16) -> CompiledGrammar:
    """Compile a grammar and piece vocabulary into automaton tables."""
    return _Builder(grammar, pieces, max_push).build()
