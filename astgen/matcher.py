"""Batched grammar matcher on any torch device.

Per-sequence state lives in tensors [B, ...]: the pushdown stack of symbols with each entry's tree
depth and block nesting, the remaining minimum cost to complete the tree, the running hash of the
terminal being spelled, and a small table of symbol-set entries (hash, set, scope tag).  Every
operation is a fixed sequence of tensor ops: no Python loop over the batch and no host
synchronisation, so it runs unchanged on CPU, CUDA or the `meta` device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from astgen.errors import GrammarError
from astgen.grammar.actions import END
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.lexical import SURROGATE_LEAD, TEXT_KINDS
from astgen.grammar.versions import RUNNING

__all__ = ["Matcher", "MatcherConfig"]


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
    set_capacity: int = 128


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
    ar = torch.arange(n)
    bit_of = torch.bitwise_left_shift(torch.ones(n, dtype=torch.int64), ar % 32)
    for name in ("allowed_bits", "strict_bits"):
        words = torch.from_numpy(cg.arrays[name].copy()).long()
        t[name.replace("_bits", "_mask")] = ((words[:, ar // 32] & bit_of) != 0).to(device)
    # completion cost after each piece, per automaton state (one gather per step instead of two)
    nxt = torch.from_numpy(cg.arrays["kind_next"].copy()).long()
    cost = torch.from_numpy(cg.arrays["kind_cost"].copy()).long()
    t["kind_next_cost"] = torch.where(nxt >= 0, cost[nxt.clamp(min=0)], torch.zeros_like(nxt)).to(device)
    _TABLE_CACHE[key] = t
    return t


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
        self.has_read_add = bool((compiled.arrays["term_readadd"] >= 0).any())
        # deferred bindings (see Grammar.set_defers): the one set that holds back additions to another
        defer = [int(x) for x in compiled.arrays["set_defer"]]
        held = [i for i, x in enumerate(defer) if x >= 0]
        if len(held) > 1:
            raise GrammarError("the matcher supports one deferring set")
        self.pending_set = held[0] if held else -1
        self.deferred_set = defer[held[0]] if held else -1
        self.reset()

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
        self.error = torch.zeros(b, dtype=torch.bool, device=dev)
        self.ent_hash = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_set = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_tag = torch.zeros(b, e, dtype=torch.long, device=dev)
        self.ent_alive = torch.zeros(b, e, dtype=torch.bool, device=dev)
        # innermost open marker of each set (-1: none), and under each marker the one it shadowed
        self.scope = torch.full((b, self.n_sets), -1, dtype=torch.long, device=dev)
        self.shadowed = torch.full((b, d), -1, dtype=torch.long, device=dev)
        # per stack position: 1 = a @defer field not yet begun (bindings above it wait), 2 = one being read
        self.defer_slot = torch.zeros(b, d, dtype=torch.long, device=dev)
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
        "error",
        "ent_hash",
        "ent_set",
        "ent_tag",
        "ent_alive",
        "scope",
        "shadowed",
        "defer_slot",
        "limit",
    )

    def fork(self, index: torch.Tensor | list[int]) -> Matcher:
        """A new matcher whose rows are copies of rows `index` of this one (e.g. for beams)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.device)
        other = Matcher.__new__(Matcher)
        other.__dict__.update({k: v for k, v in self.__dict__.items() if k not in self._STATE})
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
        t, cfg = self.t, self.config
        top = self.top
        allowed = (t["strict_mask"] if cfg.strict else t["allowed_mask"])[top]
        is_dfa = top >= self.compiled.dfa_base
        # symbol sets: a name may not end where it would repeat a name its set forbids
        term = t["sym_term"][top]
        tt = term.clamp(min=0)
        same = t["term_same"][tt].gather(1, self.ent_set)
        anyset = t["term_any"][tt].gather(1, self.ent_set)
        in_scope = self._in_scope(t["term_outer"][tt])
        clash = (self.ent_alive & (self.ent_hash == self.hash.unsqueeze(1)) & ((same & in_scope) | anyset)).any(1)
        clash = clash & (term >= 0)
        allowed[:, END] &= ~clash
        # budgets: completion within max_actions, tree depth, block nesting
        ok_struct = torch.ones(allowed.shape[0], self.n_struct, dtype=torch.bool, device=self.device)
        ok_piece = torch.ones(allowed.shape[0], allowed.shape[1] - self.n_struct, dtype=torch.bool, device=self.device)
        depth_t = self.tree_depth.gather(1, (self.sp - 1).unsqueeze(1))
        depth_b = self.block_depth.gather(1, (self.sp - 1).unsqueeze(1))
        mode = self._mode
        ok_struct &= depth_t + t[mode + "need_tree"][top] <= cfg.max_tree_depth
        ok_struct &= depth_b + t[mode + "need_block"][top] <= cfg.max_blocks
        if cfg.max_actions is not None or bool(self._has_limit):
            left = (self.limit - 1 - self.steps).unsqueeze(1)
            rem = self.remaining.unsqueeze(1)
            ok_struct &= rem + t[mode + "extra"][top] <= left
            loc = t["sym_local"][top]
            piece_extra = 1 + t["kind_next_cost"][loc] - t["kind_cost"][loc].unsqueeze(1)
            ok_piece &= rem + piece_extra <= left
        if cfg.max_terminal_pieces is not None:
            end_ok = allowed[:, END] & ok_struct[:, END]
            long_term = is_dfa & (self.term_len >= cfg.max_terminal_pieces) & end_ok
            ok_piece &= ~long_term.unsqueeze(1)
        full = allowed & torch.cat([ok_struct, ok_piece], dim=1)
        return torch.where(full.any(1, keepdim=True), full, allowed)

    _has_limit = False

    def _outer(self, tag: torch.Tensor) -> torch.Tensor:
        """The scope marker around the one at stack position `tag` (-1: none), elementwise."""
        out = self.shadowed.gather(1, tag.clamp(min=0).reshape(tag.shape[0], -1)).reshape(tag.shape)
        return torch.where(tag >= 0, out, torch.full_like(tag, -1))

    def _in_scope(self, outer: torch.Tensor | None = None) -> torch.Tensor:
        """[B, E] bool: entries of the scope now open for their set (for rows where `outer` [B] is set, of
        the scope around it).  A held-back (pending) entry is tagged with its @defer field's stack position
        and counts inside the function that opened it."""
        open_tag = self.scope.gather(1, self.t["set_scope"][self.ent_set])
        if outer is not None:
            open_tag = torch.where(outer.unsqueeze(1), self._outer(open_tag), open_tag)
        if self.pending_set < 0:
            return self.ent_tag == open_tag
        held = self.ent_set == self.pending_set
        return torch.where(held, self.ent_tag > open_tag, self.ent_tag == open_tag)

    def _held_slot(self) -> torch.Tensor:
        """[B]: the stack position of the innermost open @defer field if bindings wait for it now (it has
        not begun, and it is inside the current function), else -1."""
        pos = torch.arange(self.defer_slot.shape[1], device=self.device).unsqueeze(0)
        open_ = (self.defer_slot > 0) & (pos < self.sp.unsqueeze(1))
        inner = torch.where(open_, pos, torch.full_like(pos, -1)).max(1).values
        waiting = self.defer_slot.gather(1, inner.clamp(min=0).unsqueeze(1)).squeeze(1) == 1
        fn = self.scope[:, self.set_scope[self.deferred_set]]
        return torch.where(waiting & (inner > fn) & (fn >= 0), inner, torch.full_like(inner, -1))

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

    # ------------------------------------------------------------------ advance
    def advance(self, actions: torch.Tensor) -> None:
        """Apply one action per sequence.  Actions outside the grammar set `error` and change nothing."""
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
        start = t["is_term_start"][top]
        ph, pp = t["piece_hash"][piece], t["piece_pow"][piece]
        rolled = torch.where(start, ph, (self.hash * pp + ph) % self.hash_mod)
        step_piece = is_dfa & is_piece
        self.term_len = torch.where(
            step_piece,
            torch.where(start, torch.ones_like(self.term_len), self.term_len + 1),
            torch.where(is_end, torch.zeros_like(self.term_len), self.term_len),
        )
        term = t["sym_term"][top]
        adds = t["term_add"][term.clamp(min=0)] & (is_dfa & is_end & (term >= 0)).unsqueeze(1)
        set_scope = self.set_scope
        outer = t["term_outer"][term.clamp(min=0)]
        for s in range(adds.shape[1]):
            tag = self.scope[:, set_scope[s]]
            tag = torch.where(outer, self._outer(tag), tag)
            if s == self.deferred_set:  # a binding of a name not yet bound waits for its @defer field
                held = self._held_slot()
                bound = self.ent_alive & (self.ent_set == s) & (self.ent_tag == tag.unsqueeze(1))
                wait = (held >= 0) & ~(bound & (self.ent_hash == self.hash.unsqueeze(1))).any(1)
                # outside every scope (module level) nothing reads these entries: keep the table for the rest
                do = adds[:, s] & (tag >= 0)
                self._add_entry_to(do, torch.where(wait, self.pending_set, s), torch.where(wait, held, tag))
            else:
                self._add_entry(adds[:, s], s, tag)
        if self.has_read_add:  # a name read before it is bound in its scope joins a set (see Terminal.read_add)
            tc = term.clamp(min=0)
            ra, ru = t["term_readadd"][tc], t["term_readunless"][tc]
            ending = is_dfa & is_end & (term >= 0) & (ra >= 0)
            rac = ra.clamp(min=0).unsqueeze(1)
            tag = self.scope.gather(1, t["set_scope"][rac]).squeeze(1)
            in_scope = self._in_scope()
            named = self.ent_alive & in_scope & (self.ent_hash == self.hash.unsqueeze(1))
            known = (named & ((self.ent_set == rac) | (self.ent_set == ru.unsqueeze(1)))).any(1)
            self._add_entry_to(ending & ~known & (tag >= 0), ra.clamp(min=0), tag)
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
        if self.pending_set >= 0:  # a @defer field starts waiting; what replaces a waiting field is being read
            was = self.defer_slot.gather(1, (self.sp - 1).unsqueeze(1))
            dj = torch.where(valid & ~is_dfa, t["rule_defer"][r], torch.full_like(r, -1)).unsqueeze(1)
            flag = torch.where(k == dj, 1, torch.where((k == 0) & (was > 0), 2, 0))
            self.defer_slot.scatter_(1, pos, torch.where(live, flag, self.defer_slot.gather(1, pos)))
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
        if self.pending_set >= 0:  # a completed @defer field releases the bindings held for it
            done = self.ent_alive & (self.ent_set == self.pending_set) & (self.ent_tag >= self.sp.unsqueeze(1))
            fn = self.scope[:, self.set_scope[self.deferred_set]].unsqueeze(1).expand_as(self.ent_tag)
            self.ent_set = torch.where(done, self.deferred_set, self.ent_set)
            self.ent_tag = torch.where(done, fn, self.ent_tag)
        self.ent_alive &= self.ent_tag < self.sp.unsqueeze(1)
        self.steps += 1

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
        for b, prefix in enumerate(prefixes):
            _ScalarReplay(m, b).run(prefix)
        if torch.device(device) != m.device:
            moved = cls(compiled, len(prefixes), device, config)
            for name in cls._STATE:
                setattr(moved, name, getattr(m, name).to(moved.device))
            moved._has_limit = m._has_limit
            return moved
        return m

    def seed(self, entries: list[list[tuple[int, int]]]) -> None:
        """Add symbol-set entries (set index, name hash; see `CompiledGrammar.name_hash`) to each row, in
        the scope open at the row's position now: e.g. the names a hole's fill must not bind.  Raises
        GrammarError if a row's entries do not fit `MatcherConfig.set_capacity`."""
        alive, scope = self.ent_alive.cpu(), self.scope.cpu()
        ent_hash, ent_set, ent_tag = self.ent_hash.cpu(), self.ent_set.cpu(), self.ent_tag.cpu()
        for b, row in enumerate(entries):
            free = (~alive[b]).nonzero().flatten().tolist()
            if len(free) < len(row):
                raise GrammarError(
                    f"row {b}: {len(row)} names do not fit the matcher's {len(free)} free set entries "
                    "(raise MatcherConfig.set_capacity)"
                )
            for slot, (s, h) in zip(free, row):
                ent_hash[b, slot], ent_set[b, slot] = h, s
                ent_tag[b, slot] = scope[b, self.set_scope[s]]
                alive[b, slot] = True
        dev = self.device
        self.ent_alive, self.ent_hash = alive.to(dev), ent_hash.to(dev)
        self.ent_set, self.ent_tag = ent_set.to(dev), ent_tag.to(dev)

    def _add_entry(self, do: torch.Tensor, set_id: int, tag: torch.Tensor) -> None:
        self._add_entry_to(do, torch.full_like(tag, set_id), tag)

    def _add_entry_to(self, do: torch.Tensor, set_ids: torch.Tensor, tag: torch.Tensor) -> None:
        slot = (~self.ent_alive).to(torch.uint8).argmax(1, keepdim=True)
        d = do.unsqueeze(1)
        self.ent_hash.scatter_(1, slot, torch.where(d, self.hash.unsqueeze(1), self.ent_hash.gather(1, slot)))
        self.ent_set.scatter_(1, slot, torch.where(d, set_ids.unsqueeze(1), self.ent_set.gather(1, slot)))
        self.ent_tag.scatter_(1, slot, torch.where(d, tag.unsqueeze(1), self.ent_tag.gather(1, slot)))
        self.ent_alive.scatter_(1, slot, d | self.ent_alive.gather(1, slot))


class _ScalarReplay:
    """Row `b` of a CPU matcher advanced one action at a time in plain Python (see Matcher.replayed).

    Mirrors `Matcher.advance` line by line for valid actions; tests check both give equal states."""

    def __init__(self, m: Matcher, b: int):
        self.m, self.b = m, b
        a = m.compiled.arrays
        self.a = a
        self.mincost = a["strict_mincost" if m.config.strict else "mincost"]

    def _held_slot(self, defer_slot: list[int], sp: int, scope: list[int]) -> int:
        """Matcher._held_slot for this row."""
        inner = max((p for p in range(sp) if defer_slot[p] > 0), default=-1)
        fn = scope[self.m.set_scope[self.m.deferred_set]]
        return inner if inner >= 0 and defer_slot[inner] == 1 and inner > fn >= 0 else -1

    def run(self, actions: list[int]) -> None:
        m, b, a = self.m, self.b, self.a
        cg = m.compiled
        ns, dfa_base, mod = m.n_struct, cg.dfa_base, m.hash_mod
        rule_table, rule_push, rule_len = a["rule_table"], a["rule_push"], a["rule_len"]
        rule_tree, rule_block = a["rule_tree"], a["rule_block"]
        kind_next, sym_local, sym_shift = a["kind_next"], a["sym_local"], a["sym_shift"]
        is_term_start, piece_hash, piece_pow = a["is_term_start"], a["piece_hash"], a["piece_pow"]
        sym_term, term_add, marker_set = a["sym_term"], a["term_add"], a["marker_set"]
        cost = self.mincost
        cap = m.stack.shape[1]
        stack = m.stack[b].tolist()
        tdep = m.tree_depth[b].tolist()
        bdep = m.block_depth[b].tolist()
        shadowed = m.shadowed[b].tolist()
        defer_slot = m.defer_slot[b].tolist()
        rule_defer = a["rule_defer"]
        pending, deferred = m.pending_set, m.deferred_set
        scope = m.scope[b].tolist()
        sp = int(m.sp[b])
        remaining = int(m.remaining[b])
        h = int(m.hash[b])
        term_len = int(m.term_len[b])
        ent_hash, ent_set = m.ent_hash[b].tolist(), m.ent_set[b].tolist()
        ent_tag, ent_alive = m.ent_tag[b].tolist(), m.ent_alive[b].tolist()
        n_sets = term_add.shape[1]
        for i, act in enumerate(actions):
            act = int(act)
            top = stack[sp - 1]
            dj = -1
            if top >= dfa_base:
                if act == END:
                    push: list[int] = []
                elif act >= ns:
                    nloc = int(kind_next[sym_local[top], act - ns])
                    push = [int(sym_shift[top]) + nloc if nloc >= 0 else top]
                else:
                    raise GrammarError(f"step {i}: {cg.action_name(act)} inside {cg.symbol_names[top]}")
                inc_t = inc_b = [0] * len(push)
            else:
                r = int(rule_table[top, act]) if act < ns else 0
                if r == 0:
                    raise GrammarError(f"step {i}: {cg.action_name(act)} not allowed in {cg.symbol_names[top]}")
                n = int(rule_len[r])
                dj = int(rule_defer[r])
                push = [int(x) for x in rule_push[r, :n]]
                inc_t = [int(x) for x in rule_tree[r, :n]]
                inc_b = [int(x) for x in rule_block[r, :n]]
            remaining += sum(int(cost[x]) for x in push) - int(cost[top])
            if top >= dfa_base and act >= ns:
                piece = act - ns
                ph = int(piece_hash[piece])
                if is_term_start[top]:
                    h, term_len = ph, 1
                else:
                    h, term_len = (h * int(piece_pow[piece]) + ph) % mod, term_len + 1
            elif top >= dfa_base and act == END:
                term_len = 0
                term = int(sym_term[top])
                if term >= 0:
                    for s in range(n_sets):
                        if term_add[term, s]:
                            s_add, tag = s, scope[m.set_scope[s]]
                            if a["term_outer"][term]:
                                tag = shadowed[tag] if tag >= 0 else -1
                            if s == deferred:
                                held = self._held_slot(defer_slot, sp, scope)
                                bound = any(
                                    alive and es == s and et == tag and eh == h
                                    for alive, eh, es, et in zip(ent_alive, ent_hash, ent_set, ent_tag)
                                )
                                if held >= 0 and not bound:
                                    s_add, tag = pending, held
                                if tag < 0:
                                    continue
                            slot = ent_alive.index(False) if False in ent_alive else 0
                            ent_hash[slot], ent_set[slot], ent_tag[slot] = h, s_add, tag
                            ent_alive[slot] = True
                    ra, ru = int(a["term_readadd"][term]), int(a["term_readunless"][term])
                    tag = scope[m.set_scope[ra]] if ra >= 0 else -1
                    known = any(
                        alive and eh == h and es in (ra, ru) and et == scope[m.set_scope[es]]
                        for alive, eh, es, et in zip(ent_alive, ent_hash, ent_set, ent_tag)
                    )
                    if ra >= 0 and tag >= 0 and not known:
                        slot = ent_alive.index(False) if False in ent_alive else 0
                        ent_hash[slot], ent_set[slot], ent_tag[slot] = h, ra, tag
                        ent_alive[slot] = True
            k = int(marker_set[top])
            if k >= 0:
                scope[k] = shadowed[sp - 1]
            parent_t, parent_b = tdep[sp - 1], bdep[sp - 1]
            was = defer_slot[sp - 1]
            for j, sym in enumerate(push):
                pos = min(sp - 1 + j, cap - 1)
                if pending >= 0:
                    defer_slot[pos] = 1 if j == dj else 2 if j == 0 and was > 0 else 0
                stack[pos] = sym
                tdep[pos] = parent_t + inc_t[j]
                bdep[pos] = parent_b + inc_b[j]
                kj = int(marker_set[sym])
                if kj >= 0 and j < m.marker_slots:
                    shadowed[pos] = scope[kj]
                    scope[kj] = pos
            sp = sp - 1 + len(push)
            if sp > cap:
                raise GrammarError(f"step {i}: the program nests deeper than the matcher's stack ({cap})")
            if pending >= 0 and pending in ent_set:
                fn = scope[m.set_scope[deferred]]
                for e, (alive, es, et) in enumerate(zip(ent_alive, ent_set, ent_tag)):
                    if alive and es == pending and et >= sp:
                        ent_set[e], ent_tag[e] = deferred, fn
            ent_alive = [alive and tag < sp for alive, tag in zip(ent_alive, ent_tag)]
        dev = m.device
        m.stack[b] = torch.tensor(stack, device=dev)
        m.tree_depth[b] = torch.tensor(tdep, device=dev)
        m.block_depth[b] = torch.tensor(bdep, device=dev)
        m.shadowed[b] = torch.tensor(shadowed, device=dev)
        m.defer_slot[b] = torch.tensor(defer_slot, device=dev)
        m.scope[b] = torch.tensor(scope, device=dev)
        m.sp[b], m.remaining[b], m.hash[b], m.term_len[b] = sp, remaining, h, term_len
        m.steps[b] += len(actions)
        m.ent_hash[b] = torch.tensor(ent_hash, device=dev)
        m.ent_set[b] = torch.tensor(ent_set, device=dev)
        m.ent_tag[b] = torch.tensor(ent_tag, device=dev)
        m.ent_alive[b] = torch.tensor(ent_alive, device=dev)
