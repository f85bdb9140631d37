"""Batched grammar matcher on any torch device.

Per-sequence state lives in tensors [B, ...]: the pushdown stack of symbols with each entry's tree
depth and block nesting, the remaining minimum cost to complete the tree, the running hash of the
terminal being spelled (and its pieces), and a small table of symbol-set entries (hash, pieces, set,
scope tag, and the field whose start or end makes a deferred binding take effect).  In strict mode a
lookup terminal may only spell a name visible where it stands: an entry seen through Python's scope
chain, or a builtin of the running interpreter (see `MatcherConfig.builtins`).  Every
operation is a fixed sequence of tensor ops: no Python loop over the batch and no host
synchronisation, so it runs unchanged on CPU, CUDA or the `meta` device.  A CPU batch of up to
`MatcherConfig.host_rows` rows is masked and advanced row by row instead: the same state through
numpy views, in a fraction of the time of the batched step's hundreds of tiny ops (tests check that
both paths give equal masks and states)."""

from __future__ import annotations

import builtins as _builtins
import keyword
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from astgen.errors import GrammarError
from astgen.grammar.actions import END, STOP
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.ir import LOOKUP_MODES
from astgen.grammar.lexical import SURROGATE_LEAD, TEXT_KINDS
from astgen.grammar.pieces import PieceVocabulary, load_pieces
from astgen.grammar.replay import pushed, refusal
from astgen.grammar.versions import RUNNING

__all__ = ["Matcher", "MatcherConfig", "SeedEntry", "default_builtins"]

_LOAD, _LOCAL, _ENCLOSING = (LOOKUP_MODES.index(m) + 1 for m in ("load", "local", "enclosing"))
_CHAIN, _ALIVE = 1, 2  # set_lookup codes (1 + index in SET_LOOKUPS)
# defer_slot codes per stack position: a @defer field waiting for its end, being read, waiting for its start
_WAIT_END, _READING, _WAIT_BEGIN = 1, 2, 3
_NO_NAME = 1 << 20  # entry length of a name too long to look up


def default_builtins() -> tuple[str, ...]:
    """The names a strict load may always use: the running interpreter's builtins (and the module
    attributes every module has), without keywords."""
    names = set(dir(_builtins)) | {"__file__", "__name__", "__doc__", "__builtins__", "__spec__"}
    return tuple(sorted(n for n in names if n.isidentifier() and not keyword.iskeyword(n)))


@dataclass(frozen=True)
class SeedEntry:
    """A symbol-set entry placed before decoding (`Matcher.seed`): set index, name hash (see
    `CompiledGrammar.name_hash`), the name's pieces (for lookups; empty: not looked up) and whether it
    is bound at module level rather than in the scope open at the row's position."""

    set: int
    hash: int
    pieces: tuple[int, ...] = ()
    module: bool = False


@dataclass(frozen=True)
class MatcherConfig:
    """Budgets and sizes.  `max_actions=None` disables the length budget (e.g. teacher forcing).
    `target_version` allows only syntax that Python version accepts (default: the running one; None:
    every constructor of the grammar, e.g. to replay code of a newer Python)."""

    strict: bool = True
    target_version: tuple[int, int] | None = RUNNING
    max_actions: int | None = None
    max_tree_depth: int = 48
    max_blocks: int = 16
    max_terminal_pieces: int | None = None
    stack_capacity: int = 512
    set_capacity: int = 256
    name_pieces: int = 16  # pieces of a name an entry keeps for lookups (longer names are not looked up)
    builtins: tuple[str, ...] | None = None  # names every load may use (None: default_builtins())
    lookups: bool = True  # strict mode also limits names in load positions to visible ones
    host_rows: int = 64  # a CPU batch up to this size is masked and advanced row by row on the host (0: batched)


_TABLE_CACHE: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
_VERSION_CACHE: dict[tuple[str, str, int], dict[str, torch.Tensor]] = {}


def _version_masks(cg: CompiledGrammar, device: torch.device, target: tuple[int, int]) -> dict[str, torch.Tensor]:
    """The allowed / strict masks without the rules of syntax newer than `target`, and without lone
    surrogates in text (cached)."""
    code = target[0] * 100 + target[1]
    key = (cg.content_hash, str(device), code)
    hit = _VERSION_CACHE.get(key)
    if hit is None:
        t = _tables(cg, device)
        since = torch.from_numpy(cg.arrays["rule_since"].copy()).long()
        newer = since[torch.from_numpy(cg.arrays["rule_table"].copy()).long()] > code  # [dfa_base, n_struct]
        ban = torch.zeros_like(t["allowed_mask"])
        ban[: newer.shape[0], : newer.shape[1]] = newer.to(device)
        # generated text holds no lone surrogate: 3.13's compile() rejects one in a docstring, and no
        # UTF-8 file can hold one (the codec still reads them, written as escapes)
        ban[:, cg.vocab.piece_base :] |= torch.from_numpy(_surrogate_pieces(cg)).to(device)
        hit = {name: t[name] & ~ban for name in ("allowed_mask", "strict_mask")}
        _VERSION_CACHE[key] = hit
    return hit


def _surrogate_pieces(cg: CompiledGrammar) -> np.ndarray:
    """[symbols, pieces] bool: the pieces that would spell a lone surrogate in a text terminal."""
    a, pieces = cg.arrays, cg.vocab.pieces
    kinds = list(cg.meta["terminal_kinds"])  # type: ignore[call-overload]
    sym_term, sym_local, kind_next = a["sym_term"], a["sym_local"], a["kind_next"]
    lo, hi = 0xA0, 0xBF

    def inside(p: bytes) -> bool:
        return any(p[i] == SURROGATE_LEAD and lo <= p[i + 1] <= hi for i in range(len(p) - 1))

    contains = np.array([inside(p) for p in pieces], dtype=bool)
    starts = np.array([bool(p) and lo <= p[0] <= hi for p in pieces], dtype=bool)
    ends_lead = np.array([p.endswith(bytes([SURROGATE_LEAD])) for p in pieces], dtype=bool)
    text = np.array([t >= 0 and kinds[t] in TEXT_KINDS for t in sym_term], dtype=bool)
    text_states = np.unique(sym_local[text])
    after_lead = kind_next[text_states][:, ends_lead]
    lead_states = np.unique(after_lead[after_lead >= 0])
    out = np.zeros((len(sym_term), len(pieces)), dtype=bool)
    out[text] = contains
    out[text & np.isin(sym_local, lead_states)] |= starts
    return out


def _tables(cg: CompiledGrammar, device: torch.device) -> dict[str, torch.Tensor]:
    key = (cg.content_hash, str(device))
    hit = _TABLE_CACHE.get(key)
    if hit is not None:
        return hit
    t: dict[str, torch.Tensor] = {}
    for name, arr in cg.arrays.items():
        if name in ("allowed_bits", "strict_bits"):
            continue  # unpacked below into [S, A] bool tables; the packed words are not needed on device
        tensor = torch.from_numpy(arr.copy())
        if tensor.dtype == torch.int32:
            tensor = tensor.long()
        t[name] = tensor.to(device)
    # unpack the bitmasks once: a [S, A] bool row gather per step is cheaper than unpacking per step
    n = cg.n_actions
    for name in ("allowed_bits", "strict_bits"):
        words = np.ascontiguousarray(cg.arrays[name], dtype="<i4")  # bit j of word w = action 32*w + j
        bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")[:, :n].astype(bool)
        # the host mask works out a structural symbol's structural actions and an automaton state's
        # pieces and <end> only: tables that allowed anything else would be masked wrongly there
        d, ns = cg.dfa_base, cg.vocab.piece_base
        if bits[:d, ns:].any() or bits[d:, :END].any() or bits[d:, END + 1 : ns].any():
            raise GrammarError(f"{name}: a structural symbol allows a piece, or an automaton state a rule")
        t[name.replace("_bits", "_mask")] = torch.from_numpy(bits).to(device)
    # completion cost after each piece, per automaton state (one gather per step instead of two)
    nxt = torch.from_numpy(cg.arrays["kind_next"].copy()).long()
    cost = torch.from_numpy(cg.arrays["kind_cost"].copy()).long()
    t["kind_next_cost"] = torch.where(nxt >= 0, cost[nxt.clamp(min=0)], torch.zeros_like(nxt)).to(device)
    _TABLE_CACHE[key] = t
    return t


@dataclass(frozen=True)
class _LookupTables:
    mode: list[int]  # per lookup terminal (column j): load / local / enclosing
    col: dict[int, int]  # terminal -> its column
    terms_t: torch.Tensor
    loads: torch.Tensor
    rule_needs: torch.Tensor  # per rule: the column of the lookup terminal it starts (J: none)
    name_vocab: PieceVocabulary
    bi_pieces: torch.Tensor
    bi_len: torch.Tensor
    bi_hash: torch.Tensor


_LOOKUP_CACHE: dict[tuple[str, str, tuple[str, ...], int], _LookupTables] = {}


def _lookup_tables(cg: CompiledGrammar, dev: torch.device, names: tuple[str, ...], P: int) -> _LookupTables:
    """A strict matcher's lookup attributes (cached per grammar, device, builtins and name length): the
    lookup terminals and their modes, per rule the lookup terminal it starts (its column; J: none), and
    the builtins as candidates, spelled as the codec spells names."""
    a = cg.arrays
    lookup = a["term_lookup"]
    terms = [int(i) for i in np.flatnonzero(lookup)]
    modes = [int(lookup[i]) for i in terms]
    j = len(terms)
    col = np.full(len(lookup), j, dtype=np.int64)
    col[terms] = np.arange(j)
    push, lens = a["rule_push"], a["rule_len"]
    sym_term = a["sym_term"][push]
    starts = a["is_term_start"][push] & (sym_term >= 0) & (np.arange(push.shape[1]) < lens[:, None])
    cols = np.where(starts, col[sym_term.clip(min=0)], j)  # [rules, width]
    needs = np.full(push.shape[0], j, dtype=np.int64)
    for k in range(push.shape[1]):  # (the last lookup terminal a rule pushes)
        needs = np.where(cols[:, k] < j, cols[:, k], needs)
    needs[0] = j
    vocab = load_pieces(str(cg.meta["language"]))
    if vocab.pieces != cg.vocab.pieces:
        raise GrammarError("lookups need the grammar compiled with the shipped pieces of its language")
    spelled = [vocab.encode("name", n.encode()) for n in names]
    if not any(len(p) == 1 for p in spelled):
        raise GrammarError("no builtin is one piece long: the completion costs of a load would be wrong")
    bi = torch.full((len(spelled), P), -1, dtype=torch.long)
    bl = torch.full((len(spelled),), _NO_NAME, dtype=torch.long)
    for i, p in enumerate(spelled):
        if len(p) <= P:
            bi[i, : len(p)] = torch.tensor(p, dtype=torch.long)
            bl[i] = len(p)
    return _LookupTables(
        mode=modes,
        col={t: i for i, t in enumerate(terms)},
        terms_t=torch.tensor(terms, dtype=torch.long, device=dev),
        loads=torch.tensor([m == _LOAD for m in modes], dtype=torch.bool, device=dev),
        rule_needs=torch.from_numpy(needs).to(dev),
        name_vocab=vocab,
        bi_pieces=bi.to(dev),
        bi_len=bl.to(dev),
        bi_hash=torch.tensor([cg.name_hash(n.encode()) for n in names], dtype=torch.long, device=dev),
    )


class Matcher:
    """Grammar state for a batch of sequences; see the module docstring."""

    def __init__(
        self,
        compiled: CompiledGrammar,
        batch_size: int,
        device: str | torch.device = "cpu",
        config: MatcherConfig | None = None,
    ):
        self.compiled = compiled
        self.config = config or MatcherConfig()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.t = _tables(compiled, self.device)
        if self.config.target_version is not None:
            self.t = {**self.t, **_version_masks(compiled, self.device, self.config.target_version)}
        self.n_struct = compiled.vocab.piece_base
        self.n_sets = max(int(compiled.meta["n_sets"]), 1)  # type: ignore[call-overload]
        self.hash_mod = int(compiled.meta["hash_mod"])  # type: ignore[call-overload]
        self._mode = "strict_" if self.config.strict else ""
        # push positions that can hold a scope marker (after a list's own re-push, before the fields)
        rp, ms = compiled.arrays["rule_push"], compiled.arrays["marker_set"]
        lens = compiled.arrays["rule_len"]
        slots = [j for j in range(rp.shape[1]) if ((ms[rp[:, j]] >= 0) & (j < lens)).any()]
        self.marker_slots = max(slots) + 1 if slots else 0
        self.set_scope = [int(x) for x in compiled.arrays["set_scope"]]  # the set whose markers scope each set
        self.set_scope_np = np.asarray(self.set_scope, dtype=np.int64)
        self.has_read_add = bool((compiled.arrays["term_readadd"] >= 0).any())
        # deferred bindings (see Grammar.set_defers): per set the set that holds back its additions (-1: none)
        defer = [int(x) for x in compiled.arrays["set_defer"]]
        self.pending_of = {d: p for p, d in enumerate(defer) if d >= 0}
        self.has_defer = bool(self.pending_of)
        is_pending = torch.zeros(len(defer), dtype=torch.bool)
        is_pending[list(self.pending_of.values())] = True
        self.pending_sets = is_pending.to(self.device) if self.has_defer else None
        # what a released entry becomes: the set it was held back for (its own set otherwise)
        self.release_to = torch.tensor(
            [d if d >= 0 else i for i, d in enumerate(defer)], dtype=torch.long, device=self.device
        )
        self._np_tables: tuple[dict[str, torch.Tensor], dict[str, np.ndarray]] | None = None  # (host path)
        self._walk: _ScalarReplay | None = None
        self._host_mask: np.ndarray | None = None  # the host path's last mask
        self.paused: frozenset[int] = frozenset()
        self._setup_lookups()
        self.reset()

    def _setup_lookups(self) -> None:
        """Lookup terminals, the rules that start one, and the builtins' pieces (strict mode only)."""
        lookup = self.compiled.arrays.get("term_lookup", np.zeros(1, dtype=np.int32))
        self.lookup_terms = [int(i) for i in np.flatnonzero(lookup)]
        self.has_lookup = bool(self.lookup_terms) and self.config.strict and self.config.lookups
        if not self.has_lookup:
            return
        names = self.config.builtins if self.config.builtins is not None else default_builtins()
        key = (self.compiled.content_hash, str(self.device), names, self.config.name_pieces)
        lk = _LOOKUP_CACHE.get(key)
        if lk is None:
            lk = _LOOKUP_CACHE[key] = _lookup_tables(self.compiled, self.device, names, self.config.name_pieces)
        self.lookup_mode, self.lookup_col, self.lookup_terms_t, self.lookup_loads = (
            lk.mode,
            lk.col,
            lk.terms_t,
            lk.loads,
        )
        self.rule_needs, self._name_vocab = lk.rule_needs, lk.name_vocab
        self.bi_pieces, self.bi_len, self.bi_hash = lk.bi_pieces, lk.bi_len, lk.bi_hash

    def spell(self, name: str) -> tuple[int, ...]:
        """The pieces of `name` as the codec spells it (what a seeded entry needs to be looked up); empty
        when this matcher does no lookups."""
        if not self.has_lookup:
            return ()
        return tuple(self._name_vocab.encode("name", name.encode()))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Every sequence back to the start symbol."""
        b, d, e, dev = self.batch_size, self.config.stack_capacity, self.config.set_capacity, self.device
        self.stack = torch.zeros(b, d, dtype=torch.long, device=dev)
        self.stack[:, 1] = self.compiled.start_symbol
        self.tree_depth = torch.zeros(b, d, dtype=torch.long, device=dev)
        self.block_depth = torch.zeros(b, d, dtype=torch.long, device=dev)
        self.sp = torch.full((b,), 2, dtype=torch.long, device=dev)
        self.remaining = self.t[self._mode + "mincost"][self.stack[:, 1]].clone()
        self.steps = torch.zeros(b, dtype=torch.long, device=dev)
        self.hash = torch.zeros(b, dtype=torch.long, device=dev)
        self.term_len = torch.zeros(b, dtype=torch.long, device=dev)
        # a dotted name: whether a `.` has been spelled, the pieces before it, and whether it began a piece
        self.head_done = torch.zeros(b, dtype=torch.bool, device=dev)
        self.head_len = torch.zeros(b, dtype=torch.long, device=dev)
        self.head_clean = torch.zeros(b, dtype=torch.bool, device=dev)
        self.error = torch.zeros(b, dtype=torch.bool, device=dev)
        self.ent_hash = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_set = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_tag = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_alive = torch.zeros(b, e, dtype=torch.bool, device=dev)
        # innermost open marker of each set (-1: none), and under each marker the one it shadowed
        self.scope = torch.full((b, self.n_sets), -1, dtype=torch.long, device=dev)
        self.shadowed = torch.full((b, d), -1, dtype=torch.long, device=dev)
        # per stack position: a @defer field waiting for its end or start (bindings above it wait), or read
        self.defer_slot = torch.zeros(b, d, dtype=torch.long, device=dev)
        # per entry: the stack position of the @defer field it waits for (-1: in effect), and whether it
        # takes effect when that field starts (else when it ends)
        self.ent_wait = torch.full((b, e), -1, dtype=torch.long, device=dev)
        self.ent_wbeg = torch.zeros(b, e, dtype=torch.bool, device=dev)
        p = self.config.name_pieces
        self.ent_pieces = torch.full((b, e, p), -1, dtype=torch.long, device=dev)
        self.ent_len = torch.full((b, e), _NO_NAME, dtype=torch.long, device=dev)
        self.term_pieces = torch.full((b, p), -1, dtype=torch.long, device=dev)
        self.closed = torch.zeros(b, d, dtype=torch.bool, device=dev)  # the scope marker here is closed
        self.star = torch.zeros(b, dtype=torch.bool, device=dev)  # `from m import *` seen: any load goes
        no_limit = 1 << 40 if self.config.max_actions is None else self.config.max_actions
        self.limit = torch.full((b,), no_limit, dtype=torch.long, device=dev)

    _STATE = (
        "stack",
        "tree_depth",
        "block_depth",
        "sp",
        "remaining",
        "steps",
        "hash",
        "term_len",
        "head_done",
        "head_len",
        "head_clean",
        "error",
        "ent_hash",
        "ent_set",
        "ent_tag",
        "ent_alive",
        "scope",
        "shadowed",
        "defer_slot",
        "ent_wait",
        "ent_wbeg",
        "ent_pieces",
        "ent_len",
        "term_pieces",
        "closed",
        "star",
        "limit",
    )

    def fork(self, index: torch.Tensor | list[int]) -> Matcher:
        """A new matcher whose rows are copies of rows `index` of this one (e.g. for beams)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.device)
        other = Matcher.__new__(Matcher)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k not in self._STATE})
        other._walk, other._host_mask, other.paused = None, None, frozenset()
        other.batch_size = int(idx.shape[0])
        for name in self._STATE:
            setattr(other, name, getattr(self, name).index_select(0, idx).clone())
        return other

    @property
    def top(self) -> torch.Tensor:
        """The symbol on top of each stack [B]."""
        return self.stack.gather(1, (self.sp - 1).unsqueeze(1)).squeeze(1)

    @property
    def done(self) -> torch.Tensor:
        """Which sequences have a complete tree (only `<eos>` remains) [B] bool."""
        return self.top == 0

    # ------------------------------------------------------------------ mask
    def mask(self) -> torch.Tensor:
        """Allowed actions for every sequence [B, A] bool (never an empty row)."""
        if self._on_host():
            walk = self._walker()
            last = self._host_mask
            out = np.empty((self.batch_size, self.t["strict_mask"].shape[1]), dtype=bool)
            for b in range(self.batch_size):
                out[b] = last[b] if b in self.paused and last is not None else walk.at(b).mask()
            self._host_mask = out
            return torch.from_numpy(out)
        t, cfg = self.t, self.config
        top = self.top
        allowed = (t["strict_mask"] if cfg.strict else t["allowed_mask"])[top]
        is_dfa = top >= self.compiled.dfa_base
        # symbol sets: a name may not end where it would repeat a name its set forbids
        term = t["sym_term"][top]
        tt = term.clamp(min=0)
        blocking = self._blocking(tt.unsqueeze(1)).squeeze(1)
        clash = (blocking & (self.ent_hash == self.hash.unsqueeze(1))).any(1) & (term >= 0)
        allowed[:, END] &= ~clash
        lookup_fit = None
        if self.has_lookup:
            lookup_fit, rule_extra = self._lookups(allowed, top, term)
        # budgets: completion within max_actions, tree depth, block nesting
        ok_struct = torch.ones(allowed.shape[0], self.n_struct, dtype=torch.bool, device=self.device)
        ok_piece = torch.ones(allowed.shape[0], allowed.shape[1] - self.n_struct, dtype=torch.bool, device=self.device)
        depth_t = self.tree_depth.gather(1, (self.sp - 1).unsqueeze(1))
        depth_b = self.block_depth.gather(1, (self.sp - 1).unsqueeze(1))
        mode = self._mode
        ok_struct &= depth_t + t[mode + "need_tree"][top] <= cfg.max_tree_depth
        ok_struct &= depth_b + t[mode + "need_block"][top] <= cfg.max_blocks
        fallback = allowed
        if cfg.max_actions is not None or bool(self._has_limit):
            left = (self.limit - 1 - self.steps).unsqueeze(1)
            rem = self.remaining.unsqueeze(1)
            cost_struct = rem + t[mode + "extra"][top]
            loc = t["sym_local"][top]
            piece_extra = 1 + t["kind_next_cost"][loc] - t["kind_cost"][loc].unsqueeze(1)
            ok_piece &= rem + piece_extra <= left
            if lookup_fit is not None:  # a name must be spelled to its end, and a needed one is that long
                cost_struct = cost_struct + rule_extra
                ok_piece &= lookup_fit(rem.squeeze(1) - t["kind_cost"][loc], left.squeeze(1))
            ok_struct &= cost_struct <= left
            # over budget (e.g. a name's `<end>` refused as a duplicate keyword, so it needs one more
            # piece than the budget counted): the cheapest completions only, so the sequence still ends
            cost = torch.cat([cost_struct.expand_as(ok_struct), rem + piece_extra], dim=1)
            cost = cost.masked_fill(~allowed, 1 << 40)  # (refused actions never count as cheapest)
            fallback = allowed & (cost == cost.min(1, keepdim=True).values)
        if cfg.max_terminal_pieces is not None:
            end_ok = allowed[:, END] & ok_struct[:, END]
            long_term = is_dfa & (self.term_len >= cfg.max_terminal_pieces) & end_ok
            ok_piece &= ~long_term.unsqueeze(1)
        full = allowed & torch.cat([ok_struct, ok_piece], dim=1)
        return torch.where(full.any(1, keepdim=True), full, fallback)

    _has_limit = False

    def _blocking(self, terms: torch.Tensor) -> torch.Tensor:
        """[B, J, E] bool: the entries whose names terminal `terms[b, j]` ([B, J] indices, >= 0) may not
        end on (its `distinct`, `notin` sets in scope, `notin_any` sets anywhere)."""
        t = self.t
        b, j = terms.shape
        sets = self.ent_set.unsqueeze(1).expand(b, j, -1)
        same = t["term_same"][terms].gather(2, sets)
        anyset = t["term_any"][terms].gather(2, sets)
        outer = t["term_outer"][terms]  # [B, J]: the terminal names the scope around the open one
        open_tag = self.scope.gather(1, t["set_scope"][self.ent_set])
        tag = torch.where(outer.unsqueeze(2), self._outer(open_tag).unsqueeze(1), open_tag.unsqueeze(1))
        in_scope = self.ent_tag.unsqueeze(1) == tag
        if self.pending_sets is not None:
            # a binding still pending at module or class level blocks no read: there Python looks the name
            # up by name (`x = x` reads a global or builtin x), while in a function it would be unbound
            by_name = (self.ent_tag < 0) | self._in_closed_scope()
            in_scope = in_scope & ~(by_name & self.pending_sets[self.ent_set]).unsqueeze(1)
        return self.ent_alive.unsqueeze(1) & ((same & in_scope) | anyset)

    def _in_closed_scope(self) -> torch.Tensor:
        """[B, E] bool: entries bound directly in a closed scope (a class body)."""
        tag = self.ent_tag
        return self.closed.gather(1, tag.clamp(min=0)) & (tag >= 0)

    def _member(self, keys: torch.Tensor, blocked: torch.Tensor, hashes: torch.Tensor) -> torch.Tensor:
        """[B, J, C] bool: which `hashes` [B, C] equal the hash of some entry blocked for j (`keys` [B, E],
        `blocked` [B, J, E])."""
        b, j, e = blocked.shape
        sentinel = torch.full_like(blocked, self.hash_mod, dtype=keys.dtype)  # above every hash
        ordered = torch.where(blocked, keys.unsqueeze(1), sentinel).sort(2).values.reshape(b * j, e)
        wanted = hashes.unsqueeze(1).expand(b, j, -1).reshape(b * j, -1).contiguous()
        at = torch.searchsorted(ordered, wanted).clamp(max=e - 1)
        return (ordered.gather(1, at) == wanted).reshape(b, j, -1)

    def _visible(self, look_in: torch.Tensor) -> torch.Tensor:
        """[B, J, E] bool: entries lookup terminal j may name here (`look_in` [J, S]: the sets each reads).
        Every live entry is tagged with a scope marker still on the stack, so an entry of an enclosing
        scope is visible unless that scope is closed (a class body seen from a nested scope)."""
        t = self.t
        tag = self.ent_tag
        live = (self.ent_alive & (self.ent_wait < 0)).unsqueeze(1) & look_in[:, self.ent_set].transpose(0, 1)
        how = t["set_lookup"][self.ent_set]
        here = tag == self.scope.gather(1, t["set_scope"][self.ent_set])
        closed = self._in_closed_scope()
        chain = how == _CHAIN
        by_mode = {
            _LOAD: (how == _ALIVE) | (chain & (here | ~closed)),
            _LOCAL: chain & here,
            _ENCLOSING: chain & ~here & (tag >= 0) & ~closed,  # enclosing function scopes (nonlocal)
        }
        return live & torch.stack([by_mode[mode] for mode in self.lookup_mode], dim=1)

    def _lookups(self, allowed: torch.Tensor, top: torch.Tensor, term: torch.Tensor):
        """Restrict `allowed` in place to what names a visible candidate: inside a lookup terminal, the
        pieces that continue one and `<end>` where one is complete; a rule that starts a lookup terminal
        only where it has a candidate.  Returns the budget checks: a function of (actions left after
        this terminal, actions left) -> [B, pieces] candidates that fit, and [B, struct] the extra cost
        of the rules that start a lookup terminal (its shortest candidate, beyond one piece).  All
        lookup terminals are computed at once, [B, J, candidates]."""
        t, P, ns = self.t, self.config.name_pieces, self.n_struct
        b = self.ent_hash.shape[0]
        inside = top >= self.compiled.dfa_base
        terms = self.lookup_terms_t  # [J]
        j = terms.shape[0]
        # candidates: the set-table entries, then the builtins
        hashes = torch.cat([self.ent_hash, self.bi_hash.unsqueeze(0).expand(b, -1)], dim=1)
        lens = torch.cat([self.ent_len, self.bi_len.unsqueeze(0).expand(b, -1)], dim=1)
        # after a star import any name goes; only a load may name a builtin
        free = self.star.unsqueeze(1) & self.lookup_loads  # [B, J]
        builtin = (~self.star.unsqueeze(1) & self.lookup_loads).unsqueeze(2).expand(b, j, self.bi_len.shape[0])
        vis = torch.cat([self._visible(t["term_lookin"][terms]), builtin], dim=2)  # [B, J, C]
        # a candidate it may not end on (e.g. a name a hole's fill may not delete) is none
        vis = vis & ~self._member(self.ent_hash, self._blocking(terms.unsqueeze(0).expand(b, j)), hashes)
        low = torch.where(vis, lens.unsqueeze(1), _NO_NAME).min(2).values  # [B, J]
        have = free | (low < _NO_NAME)
        shortest = torch.where(free, torch.ones_like(low), low)
        mine = inside.unsqueeze(1) & (term.unsqueeze(1) == terms) & ~free  # [B, J]: at most one j per row
        restricted = mine.any(1)
        vis_cur = (vis & mine.unsqueeze(2)).any(1)
        have_t = torch.cat([have, torch.ones_like(have[:, :1])], dim=1)
        short_t = torch.cat([shortest, torch.ones_like(shortest[:, :1])], dim=1)
        # rules that start a lookup terminal need a candidate
        need = self.rule_needs[t["rule_table"][torch.where(inside, torch.zeros_like(top), top)]]  # [B, struct]
        allowed[:, :ns] &= have_t.gather(1, need) | inside.unsqueeze(1)
        rule_extra = torch.where(inside.unsqueeze(1), 0, short_t.gather(1, need) - 1)
        # inside a lookup terminal: continue or end a candidate
        pieces = torch.cat([self.ent_pieces, self.bi_pieces.unsqueeze(0).expand(b, -1, -1)], dim=1)  # [B, C, P]
        n = self.term_len
        pos = torch.arange(P, device=self.device)
        prefix = ((pieces == self.term_pieces.unsqueeze(1)) | (pos >= n.view(b, 1, 1))).all(2)
        ok = vis_cur & prefix & (n <= P).unsqueeze(1)
        nxt = pieces.gather(2, n.clamp(max=P - 1).view(b, 1, 1).expand(b, pieces.shape[1], 1)).squeeze(2)
        more = ok & (lens > n.unsqueeze(1))
        ends = (ok & (lens == n.unsqueeze(1))).any(1)
        n_pieces = allowed.shape[1] - ns

        def next_pieces(which: torch.Tensor) -> torch.Tensor:
            """[B, pieces]: the pieces that continue a candidate of `which` [B, C] (every piece in rows
            outside a lookup terminal)."""
            counts = torch.zeros(b, n_pieces, dtype=torch.long, device=self.device)
            counts.scatter_add_(1, nxt.clamp(min=0), which.long())
            return (counts > 0) | ~restricted.unsqueeze(1)

        allowed[:, ns:] &= next_pieces(more)
        allowed[:, END] &= ends | ~restricted

        def fit(after: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
            return next_pieces(more & (after.unsqueeze(1) + lens - n.unsqueeze(1) + 1 <= left.unsqueeze(1)))

        return fit, rule_extra

    def _outer(self, tag: torch.Tensor) -> torch.Tensor:
        """The scope marker around the one at stack position `tag` (-1: none), elementwise."""
        out = self.shadowed.gather(1, tag.clamp(min=0).reshape(tag.shape[0], -1)).reshape(tag.shape)
        return torch.where(tag >= 0, out, torch.full_like(tag, -1))

    def _in_scope(self, outer: torch.Tensor | None = None) -> torch.Tensor:
        """[B, E] bool: entries of the scope now open for their set (for rows where `outer` [B] is set, of
        the scope around it)."""
        open_tag = self.scope.gather(1, self.t["set_scope"][self.ent_set])
        if outer is not None:
            open_tag = torch.where(outer.unsqueeze(1), self._outer(open_tag), open_tag)
        return self.ent_tag == open_tag

    def _held_slot(self, set_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """([B], [B] bool): the stack position of the innermost open @defer field if bindings of `set_id`
        wait for it now (it has not begun and lies inside the set's current scope), else -1; and whether
        that field releases them when it begins."""
        pos = torch.arange(self.defer_slot.shape[1], device=self.device).unsqueeze(0)
        open_ = (self.defer_slot > 0) & (pos < self.sp.unsqueeze(1))
        inner = torch.where(open_, pos, torch.full_like(pos, -1)).max(1).values
        flag = self.defer_slot.gather(1, inner.clamp(min=0).unsqueeze(1)).squeeze(1)
        waiting = (flag == _WAIT_END) | (flag == _WAIT_BEGIN)
        fn = self.scope[:, self.set_scope[set_id]]
        held = torch.where(waiting & (inner > fn) & (inner >= 0), inner, torch.full_like(inner, -1))
        return held, flag == _WAIT_BEGIN

    def set_limit(self, limit: torch.Tensor) -> None:
        """Per-sequence action budgets: sequence b must be complete after `limit[b]` actions in all
        (counting the actions already taken); the mask then allows only what can finish in time."""
        self.limit = limit.to(self.device, torch.long).clone()
        self._has_limit = True

    def fill_mask(self, logits: torch.Tensor) -> torch.Tensor:
        """Set logits of disallowed actions to -inf, in place; returns `logits`."""
        m = self.mask()
        if logits.shape[-1] > m.shape[1]:  # model vocabularies may carry extra (non-grammar) tokens
            pad = torch.zeros(m.shape[0], logits.shape[-1] - m.shape[1], dtype=torch.bool, device=m.device)
            m = torch.cat([m, pad], dim=1)
        logits.masked_fill_(~m, float("-inf"))
        return logits

    def forced(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(is_forced [B] bool, action [B]): sequences with exactly one allowed action, and which."""
        m = self.mask()
        return m.sum(1) == 1, m.to(torch.uint8).argmax(1)

    def pause(self, rows: Sequence[int]) -> None:
        """Rows whose mask and advance no longer matter (e.g. finished holes).  On the host path they
        are left as they are: `advance` ignores their actions and `mask` repeats their last row; the
        batched path keeps computing them."""
        self.paused = self.paused | frozenset(rows)

    def _on_host(self) -> bool:
        """Whether mask and advance take the host path (a small CPU batch; see `MatcherConfig.host_rows`)."""
        return self.device.type == "cpu" and self.batch_size <= self.config.host_rows

    def _walker(self) -> _ScalarReplay:
        """The host walker over this matcher's tensors (kept between steps while they are the same)."""
        walk = self._walk
        if walk is None or not walk.fresh():
            walk = self._walk = _ScalarReplay(self)
        return walk

    # ------------------------------------------------------------------ advance
    def advance(self, actions: torch.Tensor) -> None:
        """Apply one action per sequence.  Actions outside the grammar set `error` and change nothing."""
        if self._on_host():
            walk = self._walker()
            for b, act in enumerate(actions.tolist()):
                if b not in self.paused:
                    walk.at(b).step(int(act))
            return
        t = self.t
        a = actions.to(self.device, torch.long)
        top = self.top
        ns = self.n_struct
        dfa_base = self.compiled.dfa_base
        is_dfa = top >= dfa_base
        is_end = a == END
        is_piece = a >= ns
        # structural rule
        g_row = torch.where(is_dfa, torch.zeros_like(top), top)
        r = t["rule_table"][g_row, a.clamp(max=ns - 1)]
        r = torch.where(is_dfa | is_piece, torch.zeros_like(r), r)
        push = t["rule_push"][r]
        plen = t["rule_len"][r]
        inc_t = t["rule_tree"][r]
        inc_b = t["rule_block"][r]
        # terminal automaton step (pieces outside the automaton keep the state: teacher forcing)
        piece = (a - ns).clamp(min=0, max=t["kind_next"].shape[1] - 1)
        loc = t["sym_local"][top]
        nloc = t["kind_next"][loc, piece]
        nsym = torch.where(nloc >= 0, t["sym_shift"][top] + nloc, top)
        valid = torch.where(is_dfa, is_piece | is_end, r > 0)
        self.error |= ~valid
        first = torch.where(is_dfa, nsym, push[:, 0])
        first = torch.where(valid, first, top)
        push = torch.cat([first.unsqueeze(1), push[:, 1:]], dim=1)
        plen = torch.where(is_dfa, (~is_end).long(), plen)
        plen = torch.where(valid, plen, torch.ones_like(plen))
        zero = torch.zeros_like(inc_t)
        inc_t = torch.where((is_dfa | ~valid).unsqueeze(1), zero, inc_t)
        inc_b = torch.where((is_dfa | ~valid).unsqueeze(1), zero, inc_b)
        k = torch.arange(push.shape[1], device=self.device).unsqueeze(0)
        live = k < plen.unsqueeze(1)
        cost = t[self._mode + "mincost"]
        self.remaining += (cost[push] * live).sum(1) - cost[top]
        # symbol sets: hash the terminal as it is spelled; add it to its sets when it ends
        # (a terminal's automaton may come back to its first state: a dotted name after a `.`)
        start = self.term_len == 0
        ph, pp = t["piece_head_hash"][piece], t["piece_head_pow"][piece]
        rolled = torch.where(start, ph, (self.hash * pp + ph) % self.hash_mod)
        rolled = torch.where(self.head_done & ~start, self.hash, rolled)  # the hash stops at the first `.`
        step_piece = is_dfa & is_piece
        # the pieces an <end> makes an entry of: the whole name, or a dotted name's head (none if the
        # head does not end on a piece boundary)
        head_only = torch.where(self.head_clean, self.head_len, torch.full_like(self.head_len, _NO_NAME))
        name_len = torch.where(self.head_done, head_only, self.term_len)
        dot = t["piece_dot"][piece]
        first_dot = step_piece & dot & (start | ~self.head_done)
        self.head_clean = torch.where(first_dot, t["piece_dot_first"][piece], self.head_clean)
        self.head_len = torch.where(
            step_piece & ~dot & (start | ~self.head_done),
            torch.where(start, torch.ones_like(self.head_len), self.head_len + 1),
            torch.where(step_piece & start, torch.zeros_like(self.head_len), self.head_len),
        )
        self.head_done = torch.where(step_piece, dot | (self.head_done & ~start), self.head_done)
        # the pieces of the terminal being spelled (entries keep them for lookups)
        at = torch.where(start, torch.zeros_like(self.term_len), self.term_len)
        at_c = at.clamp(max=self.term_pieces.shape[1] - 1).unsqueeze(1)
        write = (step_piece & (at < self.term_pieces.shape[1])).unsqueeze(1)
        self.term_pieces.scatter_(1, at_c, torch.where(write, piece.unsqueeze(1), self.term_pieces.gather(1, at_c)))
        self.term_len = torch.where(
            step_piece,
            torch.where(start, torch.ones_like(self.term_len), self.term_len + 1),
            torch.where(is_end, torch.zeros_like(self.term_len), self.term_len),
        )
        term = t["sym_term"][top]
        adds = t["term_add"][term.clamp(min=0)] & (is_dfa & is_end & (term >= 0)).unsqueeze(1)
        set_scope = self.set_scope
        outer = t["term_outer"][term.clamp(min=0)]
        ending = is_dfa & is_end & (term >= 0)
        removes = t["term_remove"][term.clamp(min=0)] & ending.unsqueeze(1)
        for s in range(removes.shape[1]):  # `del x`: x leaves its set in the current scope
            gone = self._in_scope() & (self.ent_set == s) & (self.ent_hash == self.hash.unsqueeze(1))
            self.ent_alive &= ~(gone & removes[:, s : s + 1])
        for s in range(adds.shape[1]):
            tag = self.scope[:, set_scope[s]]
            tag = torch.where(outer, self._outer(tag), tag)
            pending = self.pending_of.get(s, -1)
            if pending >= 0:  # a binding of a name not yet bound waits for its @defer field
                held, begin = self._held_slot(s)
                # a name the scope binds already (or declares global) takes effect at once
                known = (self.ent_set == s) | (t["set_lookup"][self.ent_set] == _CHAIN)
                bound = self.ent_alive & known & (self.ent_tag == tag.unsqueeze(1))
                wait = (held >= 0) & ~(bound & (self.ent_hash == self.hash.unsqueeze(1))).any(1)
                self._add_entry_to(
                    adds[:, s], torch.where(wait, pending, s), tag, name_len, torch.where(wait, held, -1), begin & wait
                )
            else:
                self._add_entry(adds[:, s], s, tag, name_len)
        if self.has_read_add:  # a name read before it is bound in its scope joins a set (see Terminal.read_add)
            tc = term.clamp(min=0)
            ra, ru = t["term_readadd"][tc], t["term_readunless"][tc]
            ending = is_dfa & is_end & (term >= 0) & (ra >= 0)
            rac = ra.clamp(min=0).unsqueeze(1)
            tag = self.scope.gather(1, t["set_scope"][rac]).squeeze(1)
            in_scope = self._in_scope()
            named = self.ent_alive & in_scope & (self.ent_hash == self.hash.unsqueeze(1))
            known = (named & ((self.ent_set == rac) | (self.ent_set == ru.unsqueeze(1)))).any(1)
            self._add_entry_to(ending & ~known & (tag >= 0), ra.clamp(min=0), tag, name_len)
        # scopes: popping a marker re-opens the one it shadowed
        top_set = t["marker_set"][top]
        popped = valid & (top_set >= 0)
        ks = top_set.clamp(min=0).unsqueeze(1)
        restored = self.shadowed.gather(1, (self.sp - 1).unsqueeze(1))
        self.scope.scatter_(1, ks, torch.where(popped.unsqueeze(1), restored, self.scope.gather(1, ks)))
        self.hash = torch.where(step_piece, rolled, self.hash)
        # write the pushed symbols and their depths
        cap = self.stack.shape[1]
        pos = ((self.sp - 1).unsqueeze(1) + k).clamp(max=cap - 1)
        parent_t = self.tree_depth.gather(1, (self.sp - 1).unsqueeze(1))
        parent_b = self.block_depth.gather(1, (self.sp - 1).unsqueeze(1))
        old_stack = self.stack.gather(1, pos)
        self.stack.scatter_(1, pos, torch.where(live, push, old_stack))
        self.tree_depth.scatter_(1, pos, torch.where(live, parent_t + inc_t, self.tree_depth.gather(1, pos)))
        self.block_depth.scatter_(1, pos, torch.where(live, parent_b + inc_b, self.block_depth.gather(1, pos)))
        if self.has_defer:  # a @defer field starts waiting; what replaces a waiting field is being read
            was = self.defer_slot.gather(1, (self.sp - 1).unsqueeze(1))
            dj = torch.where(valid & ~is_dfa, t["rule_defer"][r], torch.full_like(r, -1)).unsqueeze(1)
            waits = torch.where(t["rule_defer_begin"][r], _WAIT_BEGIN, _WAIT_END).unsqueeze(1)
            flag = torch.where(k == dj, waits, torch.where((k == 0) & (was > 0), _READING, 0))
            self.defer_slot.scatter_(1, pos, torch.where(live, flag, self.defer_slot.gather(1, pos)))
            # a field that releases its bindings when it begins: begun now
            begun = valid & (was.squeeze(1) == _WAIT_BEGIN)
            here = self.ent_wbeg & (self.ent_wait == (self.sp - 1).unsqueeze(1)) & begun.unsqueeze(1)
            self._release(here)
            # a declined optional @defer field (`(x): T` with no value) binds nothing: its held names go
            declined = valid & ~is_dfa & (a == STOP) & (was.squeeze(1) == _WAIT_END)
            dropped = ~self.ent_wbeg & (self.ent_wait == (self.sp - 1).unsqueeze(1)) & declined.unsqueeze(1)
            self.ent_alive &= ~dropped
            self.ent_wait = torch.where(dropped, torch.full_like(self.ent_wait, -1), self.ent_wait)
        # scope markers of a closed constructor (a class body); a star import
        shut = t["rule_closed"][r].unsqueeze(1) & live & (~is_dfa & valid).unsqueeze(1)
        self.closed.scatter_(1, pos, torch.where(live, shut, self.closed.gather(1, pos)))
        self.star |= valid & ~is_dfa & t["rule_star"][r]
        # scopes: markers sit at the bottom of a rule's push; each remembers what it shadows
        push_set = t["marker_set"][push]
        for j in range(self.marker_slots):
            opened = live[:, j] & (push_set[:, j] >= 0)
            kj = push_set[:, j].clamp(min=0).unsqueeze(1)
            pj = pos[:, j : j + 1]
            self.shadowed.scatter_(
                1, pj, torch.where(opened.unsqueeze(1), self.scope.gather(1, kj), self.shadowed.gather(1, pj))
            )
            self.scope.scatter_(1, kj, torch.where(opened.unsqueeze(1), pj, self.scope.gather(1, kj)))
        new_sp = self.sp - 1 + plen
        self.error |= new_sp > cap
        self.sp = new_sp.clamp(max=cap)
        if self.has_defer:  # a completed @defer field releases the bindings held for it
            self._release((self.ent_wait >= 0) & (self.ent_wait >= self.sp.unsqueeze(1)))
        self.ent_alive &= self.ent_tag < self.sp.unsqueeze(1)
        self.steps += 1

    def reserve(self, n: int) -> None:
        """Grow the set table so that every row has at least `n` free entries (a decode that may bind
        up to `n` names never runs out)."""
        used = int(self.ent_alive.sum(1).max()) if self.ent_alive.numel() else 0
        if used + n > self.ent_alive.shape[1]:
            self._widen(used + n)

    def _widen(self, size: int) -> None:
        """Grow every row's set table to `size` entries (new entries empty)."""
        b, e = self.ent_alive.shape
        if size <= e:
            return
        for name, fill in _ENTRY_FILL.items():
            cur = getattr(self, name)
            shape = (b, size - e, *cur.shape[2:])
            setattr(self, name, torch.cat([cur, torch.full(shape, fill, dtype=cur.dtype, device=cur.device)], dim=1))

    def _release(self, which: torch.Tensor) -> None:
        """Entries `which` [B, E] take effect: they join the set they were held back for."""
        self.ent_set = torch.where(which, self.release_to[self.ent_set], self.ent_set)
        self.ent_wait = torch.where(which, torch.full_like(self.ent_wait, -1), self.ent_wait)
        self.ent_wbeg &= ~which

    # ------------------------------------------------------------------ fast replay
    @classmethod
    def replayed(
        cls,
        compiled: CompiledGrammar,
        prefixes: list[list[int]],
        device: str | torch.device = "cpu",
        config: MatcherConfig | None = None,
    ) -> Matcher:
        """A matcher whose row b has taken the actions `prefixes[b]` (e.g. the code before a hole).

        The states are computed on the host by a scalar walk of the same tables (microseconds per
        action instead of a batched step each) and uploaded once.  Raises GrammarError if a prefix
        leaves the grammar."""
        m = cls(compiled, len(prefixes), "cpu", config)
        walk = _ScalarReplay(m)
        for b, prefix in enumerate(prefixes):
            walk.at(b).run(prefix)
        if torch.device(device) != m.device:
            moved = cls(compiled, len(prefixes), device, config)
            for name in cls._STATE:
                setattr(moved, name, getattr(m, name).to(moved.device))
            moved._has_limit = m._has_limit
            return moved
        return m

    def seed(self, entries: Sequence[Sequence[SeedEntry | tuple[int, int]]]) -> None:
        """Add symbol-set entries to each row (a `SeedEntry`, or (set index, name hash)) in the scope open
        at the row's position now, or at module level: e.g. the names a hole's fill must not bind, and
        the names bound around it that it may read.  Raises GrammarError if a row's entries do not fit
        `MatcherConfig.set_capacity`."""
        names = ("ent_alive", "ent_hash", "ent_set", "ent_tag", "ent_wait", "ent_pieces", "ent_len")
        host = {n: getattr(self, n).cpu() for n in names}
        scope = self.scope.cpu()
        P = self.config.name_pieces
        for b, row in enumerate(entries):
            free = (~host["ent_alive"][b]).nonzero().flatten().tolist()
            if len(free) < len(row):
                raise GrammarError(
                    f"row {b}: {len(row)} names do not fit the matcher's {len(free)} free set entries "
                    "(raise MatcherConfig.set_capacity)"
                )
            for slot, item in zip(free, row):
                e = item if isinstance(item, SeedEntry) else SeedEntry(int(item[0]), int(item[1]))
                host["ent_hash"][b, slot], host["ent_set"][b, slot] = e.hash, e.set
                host["ent_tag"][b, slot] = -1 if e.module else scope[b, self.set_scope[e.set]]
                host["ent_wait"][b, slot] = -1
                host["ent_pieces"][b, slot] = -1
                if e.pieces and len(e.pieces) <= P:
                    host["ent_pieces"][b, slot, : len(e.pieces)] = torch.tensor(e.pieces, dtype=torch.long)
                    host["ent_len"][b, slot] = len(e.pieces)
                else:
                    host["ent_len"][b, slot] = _NO_NAME
                host["ent_alive"][b, slot] = True
        for n in names:
            setattr(self, n, host[n].to(self.device))

    def _add_entry(self, do: torch.Tensor, set_id: int, tag: torch.Tensor, name_len: torch.Tensor) -> None:
        self._add_entry_to(do, torch.full_like(tag, set_id), tag, name_len)

    def _add_entry_to(
        self,
        do: torch.Tensor,
        set_ids: torch.Tensor,
        tag: torch.Tensor,
        name_len: torch.Tensor,
        wait: torch.Tensor | int = -1,
        begin: torch.Tensor | bool = False,
    ) -> None:
        """Add the terminal just ended (hash, pieces) to sets `set_ids` [B] where `do` [B]; a full table
        sets `error` for that row instead of overwriting an entry."""
        free = ~self.ent_alive
        full = do & ~free.any(1)
        self.error |= full
        do = do & ~full
        slot = free.to(torch.uint8).argmax(1, keepdim=True)
        d = do.unsqueeze(1)

        def put(name: str, value: torch.Tensor) -> None:
            cur = getattr(self, name)
            cur.scatter_(1, slot, torch.where(d, value.unsqueeze(1), cur.gather(1, slot)))

        put("ent_hash", self.hash)
        put("ent_set", set_ids)
        put("ent_tag", tag)
        put("ent_wait", torch.as_tensor(wait, device=self.device).long().expand_as(tag))
        put("ent_wbeg", torch.as_tensor(begin, device=self.device).bool().expand_as(do))
        P = self.term_pieces.shape[1]
        put("ent_len", torch.where(name_len <= P, name_len, _NO_NAME))  # (a longer name is not looked up)
        known = torch.arange(P, device=self.device).unsqueeze(0) < name_len.unsqueeze(1)
        spelled = torch.where(known, self.term_pieces, torch.full_like(self.term_pieces, -1))
        idx = slot.unsqueeze(2).expand(-1, 1, P)
        self.ent_pieces.scatter_(
            1, idx, torch.where(d.unsqueeze(2), spelled.unsqueeze(1), self.ent_pieces.gather(1, idx))
        )
        self.ent_alive.scatter_(1, slot, d | self.ent_alive.gather(1, slot))


# the value of an empty set-table entry, per entry tensor
_ENTRY_FILL: dict[str, int] = {
    "ent_hash": 0,
    "ent_set": 0,
    "ent_tag": 0,
    "ent_alive": False,
    "ent_wait": -1,
    "ent_wbeg": False,
    "ent_pieces": -1,
    "ent_len": _NO_NAME,
}


class _Moves:
    """What the scalar walk needs per (symbol on top, action), as Python values, memoised: one per
    compiled grammar and mode, shared by every walker (numpy scalar reads cost ~100 ns each; a replay
    takes tens of thousands of steps over a few thousand distinct moves)."""

    def __init__(self, cg: CompiledGrammar, strict: bool):
        a = cg.arrays
        self.cg, self.a, self.ns, self.dfa_base, self.n_actions = cg, a, cg.vocab.piece_base, cg.dfa_base, cg.n_actions
        self.cost = a["strict_mincost" if strict else "mincost"].tolist()
        self.sym_term = a["sym_term"].tolist()
        self.marker_set = a["marker_set"].tolist()
        self.piece = list(
            zip(
                a["piece_head_hash"].tolist(),
                a["piece_head_pow"].tolist(),
                a["piece_dot"].tolist(),
                a["piece_dot_first"].tolist(),
            )
        )
        # per terminal: the sets it removes from, the sets it adds to, term_outer, read_add, read_unless
        self.term = [
            (
                np.flatnonzero(a["term_remove"][t]).tolist(),
                np.flatnonzero(a["term_add"][t]).tolist(),
                bool(a["term_outer"][t]),
                int(a["term_readadd"][t]),
                int(a["term_readunless"][t]),
            )
            for t in range(a["term_add"].shape[0])
        ]
        self.max_adds = int(a["term_add"].shape[1])
        self.memo: dict[int, tuple | None] = {}

    def get(self, top: int, act: int) -> tuple | None:
        """(push, tree increments, block increments, @defer field index, it waits for its start,
        closed, star import, change of the completion cost, marker set of each pushed symbol); None
        where the grammar refuses `act`.  `act` must be an action id."""
        key = top * self.n_actions + act
        try:
            return self.memo[key]
        except KeyError:
            mv = self.memo[key] = self._build(top, act)
            return mv

    def _build(self, top: int, act: int) -> tuple | None:
        push = pushed(self.cg, top, act)
        if push is None:
            return None
        a, cost = self.a, self.cost
        if top >= self.dfa_base:
            inc_t = inc_b = (0,) * len(push)
            dj, begin, closed, star = -1, False, False, False
        else:
            r = int(a["rule_table"][top, act])
            n = len(push)
            inc_t, inc_b = tuple(a["rule_tree"][r, :n].tolist()), tuple(a["rule_block"][r, :n].tolist())
            dj, begin = int(a["rule_defer"][r]), bool(a["rule_defer_begin"][r])
            closed, star = bool(a["rule_closed"][r]), bool(a["rule_star"][r])
        delta = sum(cost[x] for x in push) - cost[top]
        markers = tuple(self.marker_set[x] for x in push)
        return push, inc_t, inc_b, dj, begin, closed, star, delta, markers


_MOVES: dict[tuple[str, bool], _Moves] = {}


def _moves(cg: CompiledGrammar, strict: bool) -> _Moves:
    key = (cg.content_hash, strict)
    hit = _MOVES.get(key)
    if hit is None:
        hit = _MOVES[key] = _Moves(cg, strict)
    return hit


class _ScalarReplay:
    """Rows of a CPU matcher advanced one action at a time in plain Python, reading and writing the
    matcher's tensors through numpy views (no copies): `Matcher.replayed` walks prefixes with it, and
    `Matcher.advance` uses it for small CPU batches, where a batched step is hundreds of tiny tensor
    ops.  Mirrors the batched `advance` line by line; tests check both give equal states."""

    _ROW = ("stack", "tree_depth", "block_depth", "shadowed", "defer_slot", "closed", "scope", "term_pieces")
    _ENT = ("ent_hash", "ent_set", "ent_tag", "ent_alive", "ent_wait", "ent_wbeg", "ent_pieces", "ent_len")
    _FLAT = ("sp", "remaining", "hash", "term_len", "steps", "head_done", "head_len", "head_clean", "star", "error")

    def __init__(self, m: Matcher):
        if m.device.type != "cpu":
            raise ValueError("the scalar walk reads a CPU matcher's tensors in place")
        self.m, self.b = m, 0
        self.a = m.compiled.arrays
        self.moves = _moves(m.compiled, m.config.strict)
        self.release_to = m.release_to.numpy()
        self._arrays: tuple[dict[str, Any], dict[str, Any]] | None = None  # (while `run` works on lists)
        self._views()

    def _views(self) -> None:
        """Numpy views of every state tensor (again after the matcher replaced a tensor), then of row b."""
        m = self.m
        names = (*self._ROW, *self._ENT, *self._FLAT)
        self._get = operator.attrgetter(*names)
        self.src = self._get(m)
        self.full = {n: getattr(m, n).numpy() for n in (*self._ROW, *self._ENT)}
        self.flat = {n: getattr(m, n).numpy() for n in self._FLAT}
        self._rows: dict[int, tuple[dict[str, np.ndarray], tuple[np.ndarray, ...]]] = {}
        self.at(self.b)

    def _entry_views(self) -> None:
        """Views of the entry tables again after `Matcher._widen` replaced them (nothing else changed)."""
        m = self.m
        self.src = self._get(m)
        for n in self._ENT:
            self.full[n] = getattr(m, n).numpy()
        self._rows = {}
        self.ent = tuple(self.full[n][self.b] for n in self._ENT)

    def fresh(self) -> bool:
        """Whether the views still show the matcher's tensors (a batched op or `_widen` replaces them)."""
        return all(map(operator.is_, self._get(self.m), self.src))

    def at(self, b: int) -> _ScalarReplay:
        """Walk row `b` from now on (the views of the whole batch are kept: one walker serves every row)."""
        self.b = b
        views = self._rows.get(b)
        if views is None:
            views = self._rows[b] = (
                {n: self.full[n][b] for n in self._ROW},
                tuple(self.full[n][b] for n in self._ENT),
            )
        self.row, self.ent = views
        return self

    def _held_slot(self, defer_slot: np.ndarray, sp: int, scope: np.ndarray, set_id: int) -> tuple[int, bool]:
        """Matcher._held_slot for this row."""
        open_ = np.flatnonzero(np.asarray(defer_slot[:sp]) > 0)
        inner = int(open_[-1]) if open_.size else -1
        flag = int(defer_slot[inner]) if inner >= 0 else 0
        fn = int(scope[self.m.set_scope[set_id]])
        if inner >= 0 and flag in (_WAIT_END, _WAIT_BEGIN) and inner > fn:
            return inner, flag == _WAIT_BEGIN
        return -1, False

    def run(self, actions: Sequence[int]) -> None:
        """Take `actions` in order; GrammarError (naming the step) at the first the grammar refuses.
        Meanwhile the row's stack-shaped state and the scalars are Python lists (a list item is read
        and written several times faster than a numpy scalar), written back at the end."""
        self._to_lists()
        try:
            for i, act in enumerate(actions):
                why = self.step(int(act))
                if why:
                    raise GrammarError(f"step {i}: {why}")
        finally:
            self._from_lists()

    _LISTED = ("stack", "tree_depth", "block_depth", "closed", "defer_slot", "term_pieces")

    def _to_lists(self) -> None:
        self._arrays = (self.row, self.flat)
        self.row = {**self.row, **{n: self.row[n].tolist() for n in self._LISTED}}
        self.flat = {n: a.tolist() for n, a in self.flat.items()}

    def _from_lists(self) -> None:
        if self._arrays is None:
            return
        row, flat = self._arrays
        for n in self._LISTED:
            row[n][:] = self.row[n]
        for n, a in flat.items():
            a[:] = self.flat[n]
        self.row, self.flat = row, flat
        self._arrays = None

    def step(self, act: int) -> str:
        """Take one action; returns '' or what went wrong: an action the grammar refuses (then, as in
        the batched advance, only the step count and the error flag change) or a stack overflow."""
        m, b, moves, flat = self.m, self.b, self.moves, self.flat
        row = self.row
        stack = row["stack"]
        sp = int(flat["sp"][b])
        top = int(stack[sp - 1])
        mv = moves.get(top, act) if 0 <= act < moves.n_actions else None
        if mv is None:
            flat["error"][b] = True
            flat["steps"][b] += 1
            return refusal(m.compiled, top, act)
        push, inc_t, inc_b, dj, begin, closed_rule, star, delta, markers = mv
        dfa = top >= moves.dfa_base
        flat["remaining"][b] += delta
        if dfa and act >= moves.ns:  # a piece of the terminal being spelled
            ph, pow_, dot, dot_first = moves.piece[act - moves.ns]
            term_len = int(flat["term_len"][b])
            start = term_len == 0
            if start:
                row["term_pieces"][0] = act - moves.ns
                flat["hash"][b] = ph
                if dot:
                    flat["head_clean"][b] = dot_first
                    flat["head_len"][b] = 0
                else:
                    flat["head_len"][b] = 1
                flat["head_done"][b] = dot
                flat["term_len"][b] = 1
            else:
                if term_len < m.config.name_pieces:
                    row["term_pieces"][term_len] = act - moves.ns
                if not flat["head_done"][b]:
                    flat["hash"][b] = (int(flat["hash"][b]) * pow_ + ph) % m.hash_mod
                    if dot:
                        flat["head_clean"][b] = dot_first
                        flat["head_done"][b] = True
                    else:
                        flat["head_len"][b] += 1
                flat["term_len"][b] = term_len + 1
        elif dfa:  # <end> of a terminal: its name joins (or leaves) its sets
            term = moves.sym_term[top]
            if term >= 0:
                self._end_name(term, sp)
            flat["term_len"][b] = 0
        k = moves.marker_set[top]
        shadowed, scope = row["shadowed"], row["scope"]
        if k >= 0:
            scope[k] = shadowed[sp - 1]
        tdep, bdep, defer_slot, closed = row["tree_depth"], row["block_depth"], row["defer_slot"], row["closed"]
        parent_t, parent_b = int(tdep[sp - 1]), int(bdep[sp - 1])
        was = int(defer_slot[sp - 1])
        cap = len(stack)
        has_defer, slots = m.has_defer, m.marker_slots
        for j, sym in enumerate(push):
            pos = min(sp - 1 + j, cap - 1)
            if has_defer:
                if j == dj:
                    defer_slot[pos] = _WAIT_BEGIN if begin else _WAIT_END
                else:
                    defer_slot[pos] = _READING if j == 0 and was > 0 else 0
            closed[pos] = closed_rule
            stack[pos] = sym
            tdep[pos] = parent_t + inc_t[j]
            bdep[pos] = parent_b + inc_b[j]
            kj = markers[j]
            if kj >= 0 and j < slots:
                shadowed[pos] = scope[kj]
                scope[kj] = pos
        ent_hash, ent_set, ent_tag, ent_alive, ent_wait, ent_wbeg, ent_pieces, ent_len = self.ent
        if has_defer and was == _WAIT_BEGIN:
            here = ent_wbeg & (ent_wait == sp - 1)
            ent_set[here], ent_wait[here], ent_wbeg[here] = self.release_to[ent_set[here]], -1, False
        if has_defer and was == _WAIT_END and not dfa and act == STOP:
            dropped = ~ent_wbeg & (ent_wait == sp - 1)
            ent_alive[dropped], ent_wait[dropped] = False, -1
        if star:
            flat["star"][b] = True
        new_sp = sp - 1 + len(push)
        overflow = new_sp > cap
        if overflow:  # (as the batched advance: an error, the stack cut at its capacity)
            flat["error"][b] = True
            new_sp = cap
        if not push:
            # only a pop lowers the stack; every entry's tag and wait lie below the stack top, so only
            # then can a completed @defer field release entries or a closed scope's entries die
            if has_defer:
                done = ent_wait >= new_sp  # (an entry in effect waits for -1)
                if done.any():
                    ent_set[done], ent_wait[done], ent_wbeg[done] = self.release_to[ent_set[done]], -1, False
            ent_alive &= ent_tag < new_sp
        flat["sp"][b] = new_sp
        flat["steps"][b] += 1
        return f"the program nests deeper than the matcher's stack ({cap})" if overflow else ""

    def _end_name(self, term: int, sp: int) -> None:
        """A terminal's `<end>`: its name (hash, pieces) leaves its `remove` sets and joins its `add`
        sets (held back where a @defer field waits), or its read-add set."""
        m, b, moves, row, flat = self.m, self.b, self.moves, self.row, self.flat
        removes, adds, outer, ra, ru = moves.term[term]
        if not (removes or adds or ra >= 0):
            return
        if adds or ra >= 0:
            if int((~self.ent[3]).sum()) <= moves.max_adds:  # room for every add: grow
                m._widen(2 * self.ent[3].shape[0])
                self._entry_views()
        ent_hash, ent_set, ent_tag, ent_alive, ent_wait, ent_wbeg, ent_pieces, ent_len = self.ent
        scope, shadowed, defer_slot, term_pieces = row["scope"], row["shadowed"], row["defer_slot"], row["term_pieces"]
        P = m.config.name_pieces
        h = int(flat["hash"][b])
        head_len, term_len = int(flat["head_len"][b]), int(flat["term_len"][b])
        if flat["head_done"][b]:
            name_len = head_len if flat["head_clean"][b] else _NO_NAME
        else:
            name_len = term_len

        def add(set_id: int, tag: int, wait: int = -1, begin: bool = False) -> None:
            slot = int(np.flatnonzero(~ent_alive)[0])  # (room was made above)
            ent_hash[slot], ent_set[slot], ent_tag[slot] = h, set_id, tag
            ent_wait[slot], ent_wbeg[slot] = wait, begin
            ent_len[slot] = name_len if name_len <= P else _NO_NAME
            ent_pieces[slot] = np.where(np.arange(P) < name_len, term_pieces, -1)
            ent_alive[slot] = True

        def in_scope() -> np.ndarray:
            return ent_tag == scope[m.set_scope_np[ent_set]]

        for s in removes:
            ent_alive &= ~((ent_set == s) & (ent_hash == h) & in_scope())
        for s in adds:
            tag = int(scope[m.set_scope[s]])
            if outer:
                tag = int(shadowed[tag]) if tag >= 0 else -1
            pending = m.pending_of.get(s, -1)
            if pending >= 0:
                held, begin = self._held_slot(defer_slot, sp, scope, s)
                known = (ent_set == s) | (self.a["set_lookup"][ent_set] == _CHAIN)
                bound = bool((ent_alive & known & (ent_tag == tag) & (ent_hash == h)).any())
                if held >= 0 and not bound:
                    add(pending, tag, held, begin)
                else:
                    add(s, tag)
            else:
                add(s, tag)
        if ra >= 0:
            tag = int(scope[m.set_scope[ra]])
            named = ent_alive & (ent_hash == h) & ((ent_set == ra) | (ent_set == ru)) & in_scope()
            if tag >= 0 and not named.any():
                add(ra, tag)

    # ------------------------------------------------------------------ mask of one row
    def mask(self) -> np.ndarray:
        """Matcher.mask for row b: [A] bool.  The same rules as the batched mask, computed only where
        the row can act: a structural symbol allows no piece, a terminal's automaton no structural
        action but `<end>` (checked when the tables are built, `_tables`); and of the lookups only the terminal
        being spelled, or outside one each needed terminal's shortest candidate, is worked out."""
        m, b, t, cfg = self.m, self.b, self.tables(), self.m.config
        flat, row = self.flat, self.row
        mode, ns = m._mode, m.n_struct
        sp = int(flat["sp"][b])
        top = int(row["stack"][sp - 1])
        allowed = t["strict_mask" if cfg.strict else "allowed_mask"][top].copy()
        limited = cfg.max_actions is not None or bool(m._has_limit)
        left = int(m.limit[b]) - 1 - int(flat["steps"][b]) if limited else 0
        rem = int(flat["remaining"][b])
        depth_t, depth_b = int(row["tree_depth"][sp - 1]), int(row["block_depth"][sp - 1])
        if top < m.compiled.dfa_base:
            rule_extra: np.ndarray | int = 0
            if m.has_lookup:
                rule_extra = self._rule_lookups(allowed, top)
            ok = depth_t + t[mode + "need_tree"][top] <= cfg.max_tree_depth
            ok &= depth_b + t[mode + "need_block"][top] <= cfg.max_blocks
            cost = rem + t[mode + "extra"][top] + rule_extra
            if limited:
                ok &= cost <= left
            full = allowed.copy()
            full[:ns] &= ok
            if full.any() or not limited:
                return full
            cost = np.where(allowed[:ns], cost, 1 << 40)
            allowed[:ns] &= cost == cost.min()
            return allowed
        # inside a terminal's automaton: <end> or a piece
        term = int(t["sym_term"][top])
        if term >= 0 and allowed[END]:  # a name may not end where its set forbids it (an entry of that name)
            same = np.flatnonzero(self.ent[3] & (self.ent[0] == int(flat["hash"][b])))
            if same.size and self._blocking(term, same).any():
                allowed[END] = False
        fit = self._piece_lookups(allowed, term) if m.has_lookup else None
        end_ok = depth_t + int(t[mode + "need_tree"][top, END]) <= cfg.max_tree_depth
        end_ok &= depth_b + int(t[mode + "need_block"][top, END]) <= cfg.max_blocks
        end_cost = rem + int(t[mode + "extra"][top, END])
        loc = int(t["sym_local"][top])
        piece_cost = rem + 1 + t["kind_next_cost"][loc] - int(t["kind_cost"][loc])
        pieces = allowed[ns:]
        full = np.zeros_like(allowed)
        full[ns:] = pieces
        if limited:
            end_ok &= end_cost <= left
            full[ns:] &= piece_cost <= left
            if fit is not None:
                full[ns:] &= fit(rem - int(t["kind_cost"][loc]), left)
        if cfg.max_terminal_pieces is not None and allowed[END] and end_ok:
            if int(flat["term_len"][b]) >= cfg.max_terminal_pieces:
                full[ns:] = False
        full[END] = allowed[END] and end_ok
        if full.any() or not limited:
            return full
        cost = np.where(pieces, piece_cost, 1 << 40)
        low = min(int(cost.min()), end_cost if allowed[END] else 1 << 40)
        out = np.zeros_like(allowed)
        out[ns:] = pieces & (cost == low)
        out[END] = bool(allowed[END]) and end_cost == low
        return out

    def tables(self) -> dict[str, np.ndarray]:
        """Numpy views of the matcher's (CPU) tables."""
        m = self.m
        got = m._np_tables
        if got is None or got[0] is not m.t:
            arrays = {k: v.numpy() for k, v in m.t.items()}
            if m.pending_sets is not None:
                arrays["_pending_sets"] = m.pending_sets.numpy()
            if m.has_lookup:
                for name in ("rule_needs", "bi_hash", "bi_len", "bi_pieces"):
                    arrays["_" + name] = getattr(m, name).numpy()
            got = m._np_tables = (m.t, arrays)
        return got[1]

    def _blocking(self, term: int, idx: np.ndarray | None = None) -> np.ndarray:
        """Matcher._blocking for this row and one terminal: [E] bool (or of the entries `idx` only)."""
        m, t, row = self.m, self.tables(), self.row
        ent_set, ent_tag, ent_alive = self.ent[1:4]
        if idx is not None:
            ent_set, ent_tag, ent_alive = ent_set[idx], ent_tag[idx], ent_alive[idx]
        scope, shadowed = row["scope"], row["shadowed"]
        same = t["term_same"][term][ent_set]
        anyset = t["term_any"][term][ent_set]
        tag = scope[m.set_scope_np[ent_set]]
        if t["term_outer"][term]:
            tag = np.where(tag >= 0, shadowed[np.maximum(tag, 0)], -1)
        in_scope = ent_tag == tag
        if m.pending_sets is not None:
            by_name = (ent_tag < 0) | self._in_closed_scope(ent_tag)
            in_scope &= ~(by_name & t["_pending_sets"][ent_set])
        return ent_alive & ((same & in_scope) | anyset)

    def _in_closed_scope(self, tag: np.ndarray) -> np.ndarray:
        """[E] bool: entries (tags `tag`) bound directly in a closed scope (a class body)."""
        return self.row["closed"][np.maximum(tag, 0)] & (tag >= 0)

    def _visible(self, j: int) -> np.ndarray:
        """Matcher._visible for this row and lookup terminal column j: [E] bool."""
        m, t = self.m, self.tables()
        ent_hash, ent_set, ent_tag, ent_alive, ent_wait = self.ent[:5]
        live = ent_alive & (ent_wait < 0) & t["term_lookin"][m.lookup_terms[j]][ent_set]
        how = t["set_lookup"][ent_set]
        here = ent_tag == self.row["scope"][m.set_scope_np[ent_set]]
        closed = self._in_closed_scope(ent_tag)
        chain = how == _CHAIN
        mode = m.lookup_mode[j]
        if mode == _LOAD:
            ok = (how == _ALIVE) | (chain & (here | ~closed))
        elif mode == _LOCAL:
            ok = chain & here
        else:
            ok = chain & ~here & (ent_tag >= 0) & ~closed
        return live & ok

    def _candidates(self, j: int) -> np.ndarray:
        """[C] bool: the candidates (entries, then builtins) lookup terminal column j may name (free
        loads after a star import are handled by the caller)."""
        m = self.m
        vis_e = self._visible(j)
        n_bi = m.bi_len.shape[0]
        builtin = np.full(n_bi, bool(m.lookup_mode[j] == _LOAD), dtype=bool)
        vis = np.concatenate([vis_e, builtin])
        blocked = self._blocking(m.lookup_terms[j])
        if blocked.any():
            vis &= ~np.isin(self._cand_hash(), self.ent[0][blocked])
        return vis

    def _cand_hash(self) -> np.ndarray:
        return np.concatenate([self.ent[0], self.tables()["_bi_hash"]])

    def _cand_len(self) -> np.ndarray:
        return np.concatenate([self.ent[7], self.tables()["_bi_len"]])

    def _rule_lookups(self, allowed: np.ndarray, top: int) -> np.ndarray:
        """Outside a terminal (Matcher._lookups): a rule that starts a lookup terminal needs a
        candidate (restricts `allowed` in place) and costs its shortest one's length beyond a piece
        (returned, per structural action)."""
        m, t = self.m, self.tables()
        star = bool(self.flat["star"][self.b])
        need = t["_rule_needs"][t["rule_table"][top]]  # [struct]; len(lookup_terms): none
        j_n = len(m.lookup_terms)
        shortest = np.ones(j_n + 1, dtype=np.int64)
        have = np.ones(j_n + 1, dtype=bool)
        lens = None
        for j in np.unique(need).tolist():
            if j == j_n or (star and m.lookup_mode[j] == _LOAD):
                continue
            lens = self._cand_len() if lens is None else lens
            low = int(np.where(self._candidates(j), lens, _NO_NAME).min())
            have[j], shortest[j] = low < _NO_NAME, low
        allowed[: m.n_struct] &= have[need]
        return shortest[need] - 1

    def _piece_lookups(self, allowed: np.ndarray, term: int):
        """Inside lookup terminal `term` (Matcher._lookups): only pieces that continue a candidate, and
        `<end>` where one is complete (restricts `allowed` in place); returns the budget check of the
        pieces, a function of (actions left after this terminal, actions left), or None."""
        m, t, b = self.m, self.tables(), self.b
        ns, P = m.n_struct, m.config.name_pieces
        j = m.lookup_col.get(term, -1)
        if j < 0 or (bool(self.flat["star"][b]) and m.lookup_mode[j] == _LOAD):
            return None
        vis = self._candidates(j)
        pieces = np.concatenate([self.ent[6], t["_bi_pieces"]])  # [C, P]
        lens = self._cand_len()
        n = int(self.flat["term_len"][b])
        ok = vis & (pieces[:, :n] == self.row["term_pieces"][:n]).all(1) if n <= P else np.zeros_like(vis)
        nxt = pieces[:, min(n, P - 1)]
        more = ok & (lens > n)
        n_pieces = allowed.shape[0] - ns

        def next_pieces(which: np.ndarray) -> np.ndarray:
            out = np.zeros(n_pieces, dtype=bool)
            out[np.maximum(nxt[which], 0)] = True
            return out

        allowed[ns:] &= next_pieces(more)
        allowed[END] &= bool((ok & (lens == n)).any())

        def fit(after: int, left: int) -> np.ndarray:
            return next_pieces(more & (after + lens - n + 1 <= left))

        return fit
