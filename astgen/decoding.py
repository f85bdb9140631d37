"""Batched decoding of holes: grammar mask on the model's device, KV cache, forced-action prefill.

One call fills one hole in each of B programs.  Each row starts from a matcher replayed over the
actions before its hole (`Matcher.replayed`) and from a model context laid out as in training
(`astgen.codec.holes`): `<bos> window-with-<hole>s <sep>`.  Every step each row takes one action:

* if the grammar (plus the hole's end rules) allows exactly one action, the row takes it without
  the model — a *forced* action;
* otherwise the row needs logits: the model is called once for the whole batch, on every row's
  tokens not yet seen by the model (its forced actions since the last call, or the prompt), so
  forced actions are prefilled together with the next real step instead of costing a call each.

A hole ends with the model token `<sep>`: after its subtree is complete (kind "expr" or "one"), or,
for kind "list", whenever the list it opened is between two elements (then `<stop>` is masked: the
code after the hole closes the list).

A fill keeps the meaning of the code around it (`astgen.codec.hole_scope`, enforced here, not checked
afterwards): the names it may not bind or delete, and the locals bound only after it (which it may
not read), are seeded into the grammar's `nobind`/`keep`/`unbound` sets at the hole's scope; at that
scope's own level (not inside a def or lambda the fill opens) `yield` is masked where the function
must stay a plain function, and where the replaced code was its only `yield` the fill keeps budget
for one and, if it reaches its end without one, ends with a `yield` statement.  Likewise a statement
hole keeps budget for each name the code after it reads and nothing binds (`HoleContext.must_bind`:
the replaced code bound it); a fill that would end with such a name unbound writes `NAME =` first
and the model writes the value."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from astgen.codec.hole_scope import FORBID, REQUIRE
from astgen.codec.holes import LIST, HoleTask
from astgen.codec.module_names import module_attributes
from astgen.codec.refs import NameRefs, NameTable
from astgen.errors import GrammarError, InvalidOptionError
from astgen.features import context_states, special_state_ids, state_ids_of
from astgen.grammar.actions import END, STOP
from astgen.grammar.compiled import CompiledGrammar
from astgen.grammar.pieces import load_pieces
from astgen.grammar.versions import RUNNING, parse_version
from astgen.matcher import Matcher, MatcherConfig, SeedEntry
from astgen.stepping import make_stepper, model_device, model_vocab_size

__all__ = ["DecodeConfig", "DecodeStats", "decode_holes", "sample_from_logits"]


@dataclass(frozen=True)
class DecodeConfig:
    """Sampling and budgets.  `temperature=0` is greedy; `max_actions` bounds each hole's length
    beyond its shortest completion; `context` is the model window (its training length)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    max_actions: int = 256
    context: int = 513
    prefill_forced: bool = True
    strict: bool = True
    lean: bool = True  # the lean forward (astgen.lean; same logits) where the model's architecture allows
    host_rows: int = 64  # CPU batches up to this size: the matcher masks and advances row by row (0: batched ops)
    target_version: tuple[int, int] = RUNNING  # generated code uses only syntax this Python accepts
    no_repeat: bool = True  # a statement-list fill never repeats a statement it wrote at the hole's level
    # a soft penalty on copying a sibling (statements, arguments, entries: `_SiblingCopies`); 0 = off
    repeat_penalty: float = 1.0
    repeat_base: float = 1.5  # the penalty grows by this factor per action copied ...
    repeat_free: int = 3  # ... after this many actions an element may share with an earlier sibling
    # strict fills read only attributes an imported module has (`_ModuleAttrs`, `astgen.codec.module_names`)
    module_attributes: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_version", parse_version(self.target_version))
        if self.temperature < 0:
            raise InvalidOptionError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidOptionError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_actions < 1:
            raise InvalidOptionError(f"max_actions must be >= 1, got {self.max_actions}")
        if self.context < self.max_actions + 8:
            raise InvalidOptionError(
                f"max_actions must be at most {self.context - 8} for a model window of {self.context} positions, "
                f"got {self.max_actions}"
            )


@dataclass
class DecodeStats:
    """Counters of one or more decode calls (for benchmarks and the docs)."""

    holes: int = 0
    actions: int = 0  # actions placed in holes, plus the closing <sep> of each
    forced: int = 0  # of those, taken without sampling
    model_calls: int = 0
    tokens_fed: int = 0  # real (non-padding) tokens run through the model, prompts included
    seconds: float = 0.0
    replay_seconds: float = 0.0
    steps: int = 0  # decoding steps (each takes one action in every unfinished row)
    mask_seconds: float = 0.0  # time spent on the grammar: masks, hole rules and matcher advances
    model_seconds: float = 0.0  # time in the model's forward (on CUDA: until its launch returns)
    references: int = 0  # names written as one reference token (models with name references)
    references_refused: int = 0  # references chosen and refused by the grammar (the row chose again)
    module_attributes: int = 0  # attributes of a module restricted to the names it has
    module_attribute_fallbacks: int = 0  # steps where the grammar allowed none of them (left unrestricted)
    per_call_rows: list[int] = field(default_factory=list)

    @property
    def row_calls(self) -> int:
        """Model calls counted per row: the sum over calls of the rows each one ran."""
        return sum(self.per_call_rows)


def sample_from_logits(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One token per row from masked logits [B, V] (-inf = disallowed): greedy at temperature 0,
    otherwise temperature + nucleus (top-p) sampling."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p  # always keeps the most likely token
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


# actions a `yield` statement needs at least (`Expr`, `Yield-value`): the budget a REQUIRE hole keeps
_YIELD_STMT_COST = 2
# budget kept for the value of an owed `NAME = <value>` beyond its forced actions (a short expression)
_VALUE_SLACK = 4


class _MustBind:
    """Names a statement-list fill must bind before it ends (`HoleContext.must_bind`): the code after
    the hole reads them and nothing else binds them.  While one is unbound, the row keeps budget for
    `NAME = <expr>`; when the model ends the hole (`<sep>`) with a name still owed, the decoder writes
    `NAME =` instead (forced actions) and the model writes the value.  A name the grammar refuses to
    spell there is given up (the fill then leaves that read unbound, as before)."""

    def __init__(self, matcher: Matcher, tasks: list[HoleTask], budget: int):
        dev = matcher.device
        cg = matcher.compiled
        self.assign = cg.vocab.ctor_id("Assign")
        prefix = [self.assign, cg.vocab.ctor_id("Name")]
        ns = matcher.n_struct
        rows: list[list[tuple[int, list[int]]]] = []
        for t in tasks:
            owed: list[tuple[int, list[int]]] = []
            spent = 0
            for name in t.context.must_bind if t.kind == LIST else ():
                script = [*prefix, *(ns + p for p in matcher.spell(name)), END, STOP]
                cost = len(script) + _VALUE_SLACK
                if len(script) > 4 and spent + cost <= budget // 2:  # (no pieces: lookups are off)
                    owed.append((cg.name_hash(name.encode()), script))
                    spent += cost
            rows.append(owed)
        n = max(1, max(map(len, rows)))
        width = max([len(sc) for owed in rows for _, sc in owed], default=1)
        self.hash = torch.full((len(tasks), n), -1, dtype=torch.long, device=dev)
        self.script = torch.zeros(len(tasks), n, width, dtype=torch.long, device=dev)
        self.length = torch.zeros(len(tasks), n, dtype=torch.long, device=dev)
        for b, owed in enumerate(rows):
            for j, (h, sc) in enumerate(owed):
                self.hash[b, j], self.length[b, j] = h, len(sc)
                self.script[b, j, : len(sc)] = torch.tensor(sc, device=dev)
        self.active = self.hash >= 0
        self.any = bool(self.active.any())
        bound = cg.set_index("bound")
        self.bound_set = bound
        self.tag0 = matcher.scope[:, matcher.set_scope[bound]].clone()  # the hole's own scope
        self.row = torch.full((len(tasks),), -1, dtype=torch.long, device=dev)  # the name being written
        self.pos = torch.zeros(len(tasks), dtype=torch.long, device=dev)
        self.owed = self.active.clone()
        self.written = torch.zeros_like(self.active)  # its `NAME =` is written; the value binds it

    def update(self, matcher: Matcher) -> None:
        """Which names are still owed: not yet bound at the hole's own scope."""
        bound = matcher.ent_alive & (matcher.ent_set == self.bound_set) & (matcher.ent_tag == self.tag0.unsqueeze(1))
        hit = (matcher.ent_hash.unsqueeze(1) == self.hash.unsqueeze(2)) & bound.unsqueeze(1)
        self.owed = self.active & ~hit.any(2) & ~self.written

    def reserve(self) -> torch.Tensor:
        """[B] actions kept back for owed names not being written yet."""
        waiting = self.owed & (torch.arange(self.hash.shape[1], device=self.hash.device) != self.row.unsqueeze(1))
        return ((self.length + _VALUE_SLACK) * waiting).sum(1)

    def writing(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[B] rows in the middle of a forced `NAME =`, and [B] the action each must take next."""
        on = self.row >= 0
        r = self.row.clamp(min=0)
        script = self.script[torch.arange(len(r), device=r.device), r]
        return on, script.gather(1, self.pos.clamp(max=script.shape[1] - 1).unsqueeze(1)).squeeze(1)

    def redirect(self, choice: torch.Tensor, sep_id: int, can_assign: torch.Tensor) -> torch.Tensor:
        """`<sep>` with a name owed becomes the start of its `NAME =` (where an assignment is valid)."""
        owes = self.owed.any(1) & (self.row < 0)
        start = (choice == sep_id) & owes & can_assign
        self.active &= ~((choice == sep_id) & owes & ~can_assign).unsqueeze(1)  # nowhere to bind: give up
        first = self.owed.long().argmax(1)
        self.row = torch.where(start, first, self.row)
        self.pos = torch.where(start, torch.zeros_like(self.pos), self.pos)
        return torch.where(start, torch.full_like(choice, self.assign), choice)

    def give_up(self, rows: torch.Tensor) -> None:
        """Rows whose forced action the grammar refuses: stop writing that name and owe it no more."""
        r = self.row.clamp(min=0).unsqueeze(1)
        self.active.scatter_(1, r, self.active.gather(1, r) & ~rows.unsqueeze(1))
        self.row = torch.where(rows, torch.full_like(self.row, -1), self.row)

    def advanced(self) -> None:
        on = self.row >= 0
        self.pos = torch.where(on, self.pos + 1, self.pos)
        r = self.row.clamp(min=0).unsqueeze(1)
        done = on & (self.pos >= self.length.gather(1, r).squeeze(1))
        self.written.scatter_(1, r, self.written.gather(1, r) | done.unsqueeze(1))
        self.row = torch.where(done, torch.full_like(self.row, -1), self.row)


class _NoRepeat:
    """A statement-list fill never writes, at the hole's own level, a statement it already wrote there
    (greedy fills otherwise copy one statement until the budget closes the hole).  One action sequence
    is one subtree, and after a statement's last real choice its actions were forced: so with the same
    actions so far, that choice (and the statement's last action) is masked, unless it is the row's
    only one."""

    def __init__(self, tasks: list[HoleTask], device: torch.device):
        self.rows = [r for r, t in enumerate(tasks) if t.kind == LIST]
        self.rows_t = torch.tensor(self.rows, dtype=torch.long, device=device)
        self.cur: dict[int, tuple[int, ...]] = {r: () for r in self.rows}  # the statement being written
        self.chose: dict[int, list[bool]] = {r: [] for r in self.rows}  # per action: was there a choice
        self.choice: dict[int, bool] = dict.fromkeys(self.rows, False)
        self.banned: dict[int, dict[tuple[int, ...], set[int]]] = {r: {} for r in self.rows}  # prefix -> actions

    def restrict(self, allowed: torch.Tensor, between: list[bool]) -> None:
        """Mask, in place, the actions that would make a copy (`between[r]`: row r is between two
        statements at its hole's level, so the statement it was writing is complete)."""
        several = (allowed.index_select(0, self.rows_t).sum(1) > 1).tolist()
        for r, choice in zip(self.rows, several):
            if between[r] and self.cur[r]:
                self._written(r)
            banned = self.banned[r].get(self.cur[r])
            if banned:
                keep = allowed[r].clone()
                keep[list(banned)] = False
                if bool(keep.any()):
                    allowed[r] = keep
            self.choice[r] = choice

    def _written(self, r: int) -> None:
        stmt, chose = self.cur[r], self.chose[r]
        last_choice = max((i for i, c in enumerate(chose) if c), default=len(stmt) - 1)
        for i in {last_choice, len(stmt) - 1}:
            self.banned[r].setdefault(stmt[:i], set()).add(stmt[i])
        self.cur[r], self.chose[r] = (), []

    def advanced(self, actions: list[int], sep_id: int) -> None:
        for r in self.rows:
            if actions[r] != sep_id:
                self.cur[r] = (*self.cur[r], actions[r])
                self.chose[r].append(self.choice[r])


class _SiblingCopies:
    """A tree-level repetition penalty: in every list the fill writes into (its statements, a call's
    arguments, a literal's entries, at any depth), an element whose first n actions equal an earlier
    sibling's makes that sibling's next action cost `repeat_penalty * repeat_base ** (n - repeat_free)`
    logits once n >= repeat_free.  Greedy fills of a small model otherwise copy an element with one
    change at its end (`f('')`, `f('', '')`, ...); code rarely does (see docs/model.md).

    A list `Seq(X)` is identified by its stack depth while it is on the stack; its elements begin at
    the steps where it is on top.  A non-empty list (`X+`) writes its first element above the `Seq`
    before the `Seq` is first on top: that element is the run of actions just above it that began at
    an `X`."""

    def __init__(self, b: int, compiled: CompiledGrammar, is_seq: torch.Tensor, cfg: DecodeConfig):
        self.is_seq = is_seq
        self.cfg = cfg
        names = compiled.symbol_names
        ids = {n: i for i, n in enumerate(names)}
        self.element = {i: ids.get(n[4:-1], -1) for i, n in enumerate(names) if n.startswith("Seq(")}
        # per row: list depth -> (earlier elements, the element being written, siblings it still copies)
        self.lists: list[dict[int, tuple[list[tuple[int, ...]], list[int], list[int]]]] = [{} for _ in range(b)]
        self.history: list[list[tuple[int, int, int]]] = [[] for _ in range(b)]  # (depth, top, action) per step
        self.now: tuple[list[int], list[int]] = ([], [])

    def step(self, matcher: Matcher, live: list[int]) -> None:
        """Before this step's choice: close the lists that ended, start the elements that begin now."""
        sps, tops = matcher.sp.tolist(), matcher.top.tolist()
        seq_top = self.is_seq[matcher.top].tolist()
        self.now = (sps, tops)
        for r in live:
            sp, lists = sps[r], self.lists[r]
            for d in [d for d in lists if d > sp or (d == sp and not seq_top[r])]:
                del lists[d]
            if not seq_top[r]:
                continue
            if sp in lists:
                done, cur, _ = lists[sp]
                done = [*done, tuple(cur)] if cur else done
            else:
                done = self._first(r, sp, self.element.get(tops[r], -1))
            lists[sp] = (done, [], list(range(len(done))))

    def _first(self, r: int, depth: int, element: int) -> list[tuple[int, ...]]:
        """The element a non-empty list at `depth` wrote before its `Seq` came on top (or none)."""
        hist = self.history[r]
        i = len(hist)
        while i > 0 and hist[i - 1][0] > depth:
            i -= 1
        if i == len(hist) or hist[i][1] != element:
            return []
        return [tuple(a for _, _, a in hist[i:])]

    def penalize(self, logits: torch.Tensor, live: list[int], firsts: Any = None) -> None:
        """Lower, in place, the logits of actions that would continue a copy."""
        cfg = self.cfg
        for r in live:
            worst: dict[int, float] = {}
            for done, cur, copying in self.lists[r].values():
                n = len(cur)
                if n < cfg.repeat_free or not copying:
                    continue
                amount = cfg.repeat_penalty * cfg.repeat_base ** (n - cfg.repeat_free)
                for i in copying:
                    a = done[i][n]
                    worst[a] = max(worst.get(a, 0.0), amount)
            if firsts is not None:  # a reference to a name whose first piece is penalised
                for a, amount in list(worst.items()):
                    for tok in firsts(r, a):
                        worst[tok] = max(worst.get(tok, 0.0), amount)
            if worst:
                idx = list(worst)
                logits[r, idx] -= torch.tensor([worst[t] for t in idx], dtype=logits.dtype, device=logits.device)

    def advanced(self, actions: list[int], live: list[int]) -> None:
        """Record the actions just taken (after `step`)."""
        sps, tops = self.now
        for r in live:
            a = actions[r]
            self.history[r].append((sps[r], tops[r], a))
            lists = self.lists[r]
            for d, (done, cur, copying) in lists.items():
                n = len(cur)
                cur.append(a)
                if copying:
                    lists[d] = (done, cur, [i for i in copying if len(done[i]) > n + 1 and done[i][n] == a])


class _HoleRules:
    """Where each row's hole may end, and its yield rule, as masks over the model vocabulary."""

    def __init__(self, matcher: Matcher, tasks: list[HoleTask], vocab_size: int, sep_id: int, no_repeat: bool = False):
        dev = matcher.device
        cg = matcher.compiled
        names = cg.symbol_names
        is_seq = torch.tensor([n.startswith("Seq(") for n in names], dtype=torch.bool)
        is_wrapper = torch.tensor([n.startswith(("Seq(", "Opt(")) for n in names], dtype=torch.bool)
        n_sym = matcher.compiled.n_symbols
        # terminal-automaton states (ids >= n_symbols of the grammar part) are never wrappers
        total = int(matcher.t["sym_local"].shape[0])
        pad = torch.zeros(max(0, total - n_sym), dtype=torch.bool)
        self.is_seq = torch.cat([is_seq, pad]).to(dev)
        wrapper = torch.cat([is_wrapper, pad]).to(dev)
        top0 = matcher.top
        self.sp0 = matcher.sp.clone()
        self.steps0 = matcher.steps.clone()
        seq_start = self.is_seq[top0]
        self.end_sp = torch.where(seq_start, self.sp0, self.sp0 - 1)
        self.start_wrapper = wrapper[top0]
        self.single = torch.tensor([t.kind != LIST for t in tasks], dtype=torch.bool, device=dev)
        self.first = torch.ones(len(tasks), vocab_size, dtype=torch.bool, device=dev)
        for b, t in enumerate(tasks):
            if t.first is not None:
                self.first[b] = False
                self.first[b, list(t.first)] = True
        self.has_first = torch.tensor([t.first is not None for t in tasks], dtype=torch.bool, device=dev)
        self.vocab_size, self.sep_id = vocab_size, sep_id
        # yield rules, at the hole's own function level (the innermost fnscope marker it starts in)
        self.fnscope = cg.set_index("fnscope")
        self.scope0 = matcher.scope[:, self.fnscope].clone()
        self.is_yield = torch.zeros(vocab_size, dtype=torch.bool, device=dev)
        self.is_yield[[cg.vocab.ctor_id(n) for n in ("Yield", "Yield-value", "YieldFrom")]] = True
        self.expr_id = cg.vocab.ctor_id("Expr")
        self.forbid = torch.tensor([t.context.yields == FORBID for t in tasks], dtype=torch.bool, device=dev)
        self.require = torch.tensor([t.context.yields == REQUIRE for t in tasks], dtype=torch.bool, device=dev)
        self.yielded = torch.zeros(len(tasks), dtype=torch.bool, device=dev)
        self.in_yield_stmt = torch.zeros(len(tasks), dtype=torch.bool, device=dev)
        self.only_expr = torch.zeros_like(self.is_yield)
        self.only_expr[self.expr_id] = True
        self.any_forbid = bool(self.forbid.any())
        self.any_require = bool(self.require.any())
        self.any_first = bool(self.has_first.any())
        self.limit0 = matcher.limit.clone()
        self._own = self._closing = self.yielded
        self.must = _MustBind(matcher, tasks, int((matcher.limit - matcher.steps - matcher.remaining).min()))
        self._can_assign = torch.zeros(len(tasks), dtype=torch.bool, device=dev)
        self.repeats = _NoRepeat(tasks, dev) if no_repeat and any(t.kind == LIST for t in tasks) else None

    def allowed(self, matcher: Matcher) -> torch.Tensor:
        """[B, V] allowed model tokens (grammar actions, then the model-only tokens).  Rules no row of
        this batch has (a yield to keep or forbid, a restricted first action, names owed) cost nothing."""
        at_start = matcher.steps == self.steps0
        at_level = matcher.sp == self.end_sp  # between two elements of the hole's list, or its subtree done
        at_end = at_level & ~at_start
        list_end = owed = None
        if self.any_require:  # a hole that must yield and has not: keep room for a yield statement
            owed = self.require & ~self.yielded
            list_end = owed & at_end & ~self.single
            self._closing = list_end | (owed & self.in_yield_stmt)
            matcher.limit = self.limit0 - _YIELD_STMT_COST * (owed & ~self._closing).long()
        if self.must.any:
            self.must.update(matcher)
            base = matcher.limit if self.any_require else self.limit0
            matcher.limit = base - self.must.reserve()
        grammar = matcher.mask()
        b = grammar.shape[0]
        if grammar.shape[1] == self.vocab_size:
            allowed = grammar.clone()
        else:
            allowed = torch.zeros(b, self.vocab_size, dtype=torch.bool, device=grammar.device)
            allowed[:, : grammar.shape[1]] = grammar
        if self.any_require or self.any_forbid:
            self._own = matcher.scope[:, self.fnscope] == self.scope0
        if self.any_forbid:
            allowed &= ~((self.forbid & self._own).unsqueeze(1) & self.is_yield)
        if list_end is not None and owed is not None:
            allowed = torch.where(list_end.unsqueeze(1), allowed & self.only_expr, allowed)
            yield_now = owed & (self.in_yield_stmt | (at_start & self.single))
            narrowed = allowed & self.is_yield
            yield_now &= narrowed.any(1)  # (an expression hole where no yield fits keeps its other choices)
            allowed = torch.where(yield_now.unsqueeze(1), narrowed, allowed)
        list_top = at_level & self.is_seq[matcher.top]
        # never close the list (or decline the optional) the hole sits in: the code after it does that
        allowed[:, STOP] &= ~(list_top | (at_start & self.start_wrapper))
        if self.any_first:
            allowed = torch.where((at_start & self.has_first).unsqueeze(1), allowed & self.first, allowed)
        only_sep = at_end & self.single
        allowed &= ~only_sep.unsqueeze(1)
        allowed[:, self.sep_id] = at_end & ~list_end if list_end is not None else at_end
        if self.repeats is not None:
            self.repeats.restrict(allowed, at_level.tolist())
        if self.must.any:  # a forced `NAME =` of an owed name (see _MustBind)
            writing, nxt = self.must.writing()
            ok = allowed.gather(1, nxt.unsqueeze(1)).squeeze(1)
            self.must.give_up(writing & ~ok)
            writing &= ok
            only = torch.zeros_like(allowed).scatter_(1, nxt.unsqueeze(1), True)
            allowed = torch.where(writing.unsqueeze(1), only, allowed)
            # where the hole may end, an assignment statement must be valid for `<sep>` to turn into one
            top = matcher.top.clamp(max=matcher.t["rule_table"].shape[0] - 1)
            self._can_assign = at_end & (matcher.t["rule_table"][top, self.must.assign] > 0)
        return allowed

    def redirect(self, choice: torch.Tensor) -> torch.Tensor:
        """The action each row takes: the chosen one, or the start of an owed name's binding."""
        return self.must.redirect(choice, self.sep_id, self._can_assign) if self.must.any else choice

    def advanced(self, actions: torch.Tensor) -> None:
        """Record the actions just taken (after `allowed`): which rows have yielded at their own level."""
        if self.any_require:
            self.yielded |= self._own & self.is_yield[actions.clamp(max=self.vocab_size - 1)]
            self.in_yield_stmt = self._closing & (actions == self.expr_id)
        if self.must.any:
            self.must.advanced()
        if self.repeats is not None:
            self.repeats.advanced(actions.tolist(), self.sep_id)


class _RefRows:
    """Name references (`astgen.codec.refs`) while decoding: each row's name table (built from its
    prompt, as training builds it), the name being spelled, and the actions of a chosen reference still
    to feed the matcher.  A reference is offered where a row starts an identifier terminal and the
    name's first piece is allowed; when one is chosen, a copy of the row's matcher spells the whole name
    first (the grammar's own check, lookups and budget included), and a name it refuses is masked and
    the row chooses again.  The model sees the reference once its name is spelled."""

    def __init__(self, refs: NameRefs, compiled: CompiledGrammar, tables: list[NameTable], device: torch.device):
        self.refs, self.tables = refs, tables
        n = len(tables)
        sym_state = state_ids_of(compiled, np.arange(len(compiled.symbol_names))).tolist()
        self.ident_sym = torch.tensor([s in refs.ident for s in sym_state], dtype=torch.bool, device=device)
        self.spelling: list[list[int]] = [[] for _ in range(n)]  # pieces of the name being spelled
        self.queue: list[list[int]] = [[] for _ in range(n)]  # a chosen reference's actions still to take
        self.token: list[int] = [-1] * n  # that reference
        self.fresh = [False] * n  # its first action is the one just taken
        self.verified: dict[int, list[int]] = {}  # this step's accepted references: row -> actions
        self.chosen = self.refused = 0

    def restrict(self, allowed: torch.Tensor, matcher: Matcher, live: list[int]) -> None:
        """Queued actions are the only choice; references where a name may start."""
        at_ident = self.ident_sym[matcher.top].tolist()
        base = self.refs.ref_base
        for r in live:
            if self.queue[r]:
                allowed[r] = False
                allowed[r, self.queue[r][0]] = True
            elif at_ident[r] and not self.spelling[r]:
                names = self.tables[r].names[: self.refs.slots]
                if names:
                    firsts = torch.tensor([nm[0] for nm in names], device=allowed.device)
                    allowed[r, base : base + len(names)] = allowed[r].index_select(0, firsts)

    def firsts(self, r: int, action: int) -> list[int]:
        """Row r's reference tokens whose names start with `action` (a piece)."""
        names = self.tables[r].names[: self.refs.slots]
        return [self.refs.ref_base + k for k, nm in enumerate(names) if nm[0] == action]

    def verify(self, matcher: Matcher, r: int, token: int) -> list[int] | None:
        """The actions reference `token` spells in row r, or None where the grammar refuses them."""
        name = self.tables[r].name(token - self.refs.ref_base)
        if name is None:
            return None
        probe = matcher.fork([r])
        acts = [*name, END]
        for a in acts:
            if not bool(probe.mask()[0, a]):
                return None
            probe.advance(torch.tensor([a], device=matcher.device))
        return acts

    def chose(self, r: int, token: int, acts: list[int]) -> int:
        """Row r takes reference `token` (spelling `acts`): the matcher's action now."""
        self.queue[r] = acts[1:]
        self.token[r] = token
        self.fresh[r] = True
        self.chosen += 1
        return acts[0]

    def took(self, r: int, action: int, at_ident: bool) -> int | None:
        """After row r's matcher took `action`: the model token to feed (None: nothing yet, the row
        is still spelling a reference)."""
        if self.token[r] >= 0:
            if self.fresh[r]:
                self.fresh[r] = False
                return None
            self.queue[r].pop(0)
            if self.queue[r]:
                return None
            token, self.token[r] = self.token[r], -1
            self.tables[r].use(self.tables[r].name(token - self.refs.ref_base))  # type: ignore[arg-type]
            return token
        if at_ident and self.refs.is_piece(action):
            self.spelling[r].append(action)
        elif at_ident and action == END and self.spelling[r]:
            self.tables[r].use(tuple(self.spelling[r]))
            self.spelling[r] = []
        return action


class _ModuleAttrs:
    """`module.<attr>` (issue 14): where a fill spells the attribute of a name that refers to an
    imported module (`HoleContext.modules`) whose attributes are known statically
    (`astgen.codec.module_names`), only those names may be spelled: pieces along the spellings of the
    module's attributes, `<end>` after a whole one, references to one.  A row whose grammar mask
    allows none of them keeps its mask (counted in `fallbacks`)."""

    def __init__(self, compiled: CompiledGrammar, tasks: list[HoleTask], device: torch.device):
        self.compiled = compiled
        # the `name` terminal spells only attributes (`Attribute(value: expr, attr: name)`)
        sym = [n.startswith("name@") for n in compiled.symbol_names]
        self.attr_sym = torch.tensor(sym, dtype=torch.bool, device=device)
        self.name_ctor = compiled.vocab.ctor_id("Name")
        self.piece_base = compiled.vocab.piece_base
        self.pieces = load_pieces(str(compiled.meta["language"]))
        self.usable = self.pieces.pieces == compiled.vocab.pieces  # names are spelled as the shipped pieces do
        self.aliases = [dict(t.context.modules) for t in tasks]
        self.start = [-1] * len(tasks)  # where in the row's fill the attribute being spelled begins
        self.trie: list[_Spellings | None] = [None] * len(tasks)
        self.known: dict[str, _Spellings | None] = {}
        self.restricted = self.fallbacks = 0

    def _spellings(self, module: str) -> _Spellings | None:
        if module not in self.known:
            names = module_attributes(module) if self.usable else None
            spelled = None
            if names is not None:
                base = self.piece_base
                spelled = _Spellings([tuple(base + p for p in self.pieces.encode("name", n.encode())) for n in names])
            self.known[module] = spelled
        return self.known[module]

    def _value_name(self, fill: list[int]) -> str | None:
        """The name the attribute being started reads from, where its value is a plain name (the fill
        ends with `Name <pieces> <end>`)."""
        if not fill or fill[-1] != END:
            return None
        j = len(fill) - 2
        while j >= 0 and fill[j] >= self.piece_base:
            j -= 1
        if j < 0 or j == len(fill) - 2 or fill[j] != self.name_ctor:
            return None
        pieces = self.compiled.vocab.pieces
        name = b"".join(pieces[a - self.piece_base] for a in fill[j + 1 : -1]).decode("utf-8", "replace")
        return name

    def restrict(
        self, allowed: torch.Tensor, matcher: Matcher, live: list[int], out: list[list[int]], refs: _RefRows | None
    ) -> None:
        """Rows spelling a module's attribute: only its attributes' pieces, `<end>` and references."""
        tops = self.attr_sym[matcher.top].tolist()
        for r in live:
            if not tops[r]:
                self.start[r] = -1
                continue
            fill = out[r]
            if self.start[r] < 0 or (len(fill) > self.start[r] and fill[-1] == END):  # a new attribute
                self.start[r] = len(fill)
                alias = self._value_name(fill)
                module = self.aliases[r].get(alias) if alias is not None else None
                self.trie[r] = self._spellings(module) if module is not None else None
            trie = self.trie[r]
            if trie is None or (refs is not None and refs.queue[r]):
                continue
            spelled = tuple(fill[self.start[r] :])
            keep = torch.zeros_like(allowed[r])
            nxt = trie.next.get(spelled)
            if nxt:
                keep[list(nxt)] = True
            keep[END] = spelled in trie.whole
            if refs is not None and not spelled:
                for k, name in enumerate(refs.tables[r].names[: refs.refs.slots]):
                    keep[refs.refs.ref_base + k] = name in trie.whole
            row = allowed[r] & keep
            if bool(row.any()):
                allowed[r] = row
                self.restricted += int(not spelled)
            else:
                self.fallbacks += 1


class _Spellings:
    """A set of names as piece sequences: the whole ones and, per prefix, the pieces that continue it."""

    def __init__(self, spelled: list[tuple[int, ...]]):
        self.whole = set(spelled)
        self.next: dict[tuple[int, ...], set[int]] = {}
        for s in spelled:
            for i in range(len(s)):
                self.next.setdefault(s[:i], set()).add(s[i])


def decode_holes(
    model: Any,
    compiled: CompiledGrammar,
    tasks: list[HoleTask],
    cfg: DecodeConfig,
    pad_id: int,
    sep_id: int,
    stats: DecodeStats | None = None,
    hole_id: int | None = None,
    scores: list[float] | None = None,
    refs: NameRefs | None = None,
) -> list[list[int]]:
    """Fill one hole per task; returns each hole's actions (without the closing `<sep>`).  `model`: a
    transformers causal LM or an `astgen.lean.LeanLlama`.  A model with
    tree-state features (`astgen.features`) also needs `hole_id`, the prompt's hole token.
    With a `scores` list, each hole's log-probability (natural log, under the model's masked
    distribution at temperature 1; forced actions count 0) is appended to it in task order.
    A model with name references (`astgen.codec.refs`) needs `refs` (its layout) and `hole_id`; the
    returned actions are grammar actions either way.

    Raises GrammarError if a prefix is not a valid action sequence of `compiled`."""
    stats = stats if stats is not None else DecodeStats()
    t_start = time.perf_counter()
    device = model_device(model)
    b = len(tasks)
    if b == 0:
        return []
    vocab_size = model_vocab_size(model)
    mcfg = MatcherConfig(strict=cfg.strict, target_version=cfg.target_version, host_rows=cfg.host_rows)
    t_replay = time.perf_counter()
    matcher = Matcher.replayed(compiled, [t.prefix for t in tasks], device, mcfg)
    seeds = [_seeds(matcher, t) for t in tasks]
    matcher.reserve(max(map(len, seeds)) + 3 * cfg.max_actions)  # each action adds at most a few entries
    matcher.seed(seeds)
    stats.replay_seconds += time.perf_counter() - t_replay
    # budget: the shortest completion of everything open now, plus max_actions for the hole
    matcher.set_limit(matcher.steps + matcher.remaining + cfg.max_actions + 1)
    rules = _HoleRules(matcher, tasks, vocab_size, sep_id, cfg.no_repeat)
    copies = _SiblingCopies(b, compiled, rules.is_seq, cfg) if cfg.repeat_penalty > 0 else None
    generator = None
    if cfg.seed is not None and cfg.temperature > 0:
        generator = torch.Generator(device=device)
        generator.manual_seed(cfg.seed)

    pending: list[list[int]] = [list(t.prompt) for t in tasks]
    out: list[list[int]] = [[] for _ in tasks]
    logp = [0.0] * b
    done = [False] * b
    stepper = make_stepper(model, b, pad_id, cfg.lean)  # holds each row's logits after its last token fed
    need_states = stepper.states is not None or refs is not None
    prompt_states = _prompt_states(compiled, tasks, hole_id) if need_states else None
    attrs = None
    if cfg.strict and cfg.module_attributes and any(t.context.modules for t in tasks):
        attrs = _ModuleAttrs(compiled, tasks, device)
    ref_rows = None
    if refs is not None and prompt_states is not None:  # the prompts as the model reads them, and their tables
        packed = [refs.compress(p, st) for p, st in zip(pending, prompt_states)]
        pending, prompt_states = [c.tokens for c in packed], [c.states for c in packed]
        ref_rows = _RefRows(refs, compiled, [c.table for c in packed], device)
    states = prompt_states if stepper.states is not None else None
    if need_states:
        state_of = torch.from_numpy(state_ids_of(compiled, np.arange(len(compiled.symbol_names)))).to(device)
    max_steps = cfg.max_actions * 2 + 64  # the budget ends holes far earlier; this guards the loop
    with torch.no_grad():
        for _ in range(max_steps):
            t_mask = time.perf_counter()
            allowed = rules.allowed(matcher)
            live = [r for r in range(b) if not done[r]]
            if ref_rows is not None:
                ref_rows.restrict(allowed, matcher, live)
            if attrs is not None:
                attrs.restrict(allowed, matcher, live, out, ref_rows)
            counts = allowed.sum(1).tolist()
            if copies is not None:
                copies.step(matcher, live)
            stats.mask_seconds += time.perf_counter() - t_mask
            forced = [c == 1 for c in counts]
            stuck = [r for r in live if counts[r] == 0]
            if stuck:
                raise GrammarError(
                    f"no action is allowed in hole {stuck[0]} (a restriction of its first action fits nothing)"
                )
            need = [r for r in live if not forced[r]] if cfg.prefill_forced else [r for r in live if pending[r]]
            if need:
                t_model = time.perf_counter()
                stepper.feed(pending, states)
                stats.model_seconds += time.perf_counter() - t_model
                stats.model_calls += 1
                stats.tokens_fed += sum(len(p) for p in pending)
                stats.per_call_rows.append(len(need))
                pending = [[] for _ in range(b)]
                states = [[] for _ in range(b)] if states is not None else None
            choice = allowed.to(torch.uint8).argmax(1)
            if need and stepper.logits is not None:
                masked = stepper.logits.masked_fill(~allowed, float("-inf"))
                if copies is not None:
                    copies.penalize(masked, live, ref_rows.firsts if ref_rows is not None else None)
                sampled = sample_from_logits(masked, cfg.temperature, cfg.top_p, generator)
                is_forced = torch.tensor(forced, device=device)
                choice = torch.where(is_forced, choice, sampled)
                if ref_rows is not None:
                    choice = _references(ref_rows, matcher, choice, masked, cfg, generator)
            token = choice  # what the model chose (a reference stays one token)
            if ref_rows is not None:
                choice = choice.clone()
                for r in live:
                    tok = int(token[r])
                    if refs is not None and refs.is_ref(tok):
                        choice[r] = ref_rows.chose(r, tok, ref_rows.verified.pop(r))
            choice = rules.redirect(choice)
            actions = choice.tolist()
            if scores is not None and need and stepper.logits is not None:
                chosen = torch.log_softmax(masked.float(), -1).gather(1, token[:, None].clamp(max=vocab_size - 1))
                for r, v in enumerate(chosen.squeeze(1).tolist()):
                    if not done[r] and not forced[r] and math.isfinite(v):
                        logp[r] += v
            t_mask = time.perf_counter()
            at_ident = ref_rows.ident_sym[matcher.top].tolist() if ref_rows is not None else None
            matcher.advance(torch.where(choice >= compiled.n_actions, torch.zeros_like(choice), choice))
            rules.advanced(choice)
            if copies is not None:
                copies.advanced(actions, live)
            stats.mask_seconds += time.perf_counter() - t_mask
            # each token's state: the matcher's top after it (a row's `<sep>` is not fed)
            after = state_of[matcher.top].tolist() if states is not None else None
            stats.steps += 1
            finished = []
            for r in live:
                a = int(actions[r])
                stats.actions += 1
                stats.forced += int(forced[r])
                if a == sep_id:  # (its `<sep>` need not reach the model: the row is done)
                    done[r] = True
                    finished.append(r)
                    pending[r] = []
                else:
                    out[r].append(a)
                    fed: int | None = a if ref_rows is None else ref_rows.took(r, a, bool(at_ident[r]))  # type: ignore[index]
                    if fed is not None:
                        pending[r].append(fed)
                        if states is not None and after is not None:
                            states[r].append(int(after[r]))
            if all(done):
                break
            if finished:
                stepper.retire(finished)
                matcher.pause(finished)
        else:
            raise GrammarError("decoding did not finish within its step guard (a budget bug); please report it")
    stats.holes += b
    if ref_rows is not None:
        stats.references += ref_rows.chosen
        stats.references_refused += ref_rows.refused
    if attrs is not None:
        stats.module_attributes += attrs.restricted
        stats.module_attribute_fallbacks += attrs.fallbacks
    stats.seconds += time.perf_counter() - t_start
    if scores is not None:
        scores.extend(logp)
    return out


def _references(
    ref_rows: _RefRows,
    matcher: Matcher,
    choice: torch.Tensor,
    masked: torch.Tensor,
    cfg: DecodeConfig,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """`choice` with each reference the grammar refuses replaced by another choice of its row (the
    refused one masked in `masked`); the accepted ones' actions go to `ref_rows.verified`."""
    refs = ref_rows.refs
    ref_rows.verified = {}
    out = choice.clone()
    for r, tok in enumerate(choice.tolist()):
        while refs.is_ref(tok):
            acts = ref_rows.verify(matcher, r, tok)
            if acts is not None:
                ref_rows.verified[r] = acts
                break
            masked[r, tok] = float("-inf")
            ref_rows.refused += 1
            tok = int(sample_from_logits(masked[r : r + 1], cfg.temperature, cfg.top_p, generator)[0])
        out[r] = tok
    return out


def _prompt_states(compiled: CompiledGrammar, tasks: list[HoleTask], hole_id: int | None) -> list[list[int]]:
    """Each prompt's tree-state ids (`astgen.features.context_states` over the holed program)."""
    if hole_id is None:
        raise ValueError("this model reads tree-state features: decode_holes needs hole_id")
    specials = special_state_ids(compiled)
    out = []
    for t in tasks:
        ws = t.window_start
        context = [*t.prefix[:ws], *t.prompt[1:-1]]
        out.append([specials["bos"], *context_states(compiled, context, hole_id)[ws:], specials["sep"]])
    return out


def _seeds(matcher: Matcher, task: HoleTask) -> list[SeedEntry]:
    """The symbol-set entries of a hole's context: names its fill may not bind, delete or read, and the
    names it may read (with their pieces, for strict lookups): those its scope bound before the hole
    and, in a function, the module's names bound anywhere."""
    compiled, ctx = matcher.compiled, task.context
    out = [
        SeedEntry(compiled.set_index(s), compiled.name_hash(n.encode()))
        for s, names in (("nobind", ctx.nobind), ("keep", ctx.keep), ("unbound", ctx.unbound))
        for n in names
    ]
    bound = compiled.set_index("bound")
    for names, module in ((ctx.bound, False), (ctx.module_names, True)):
        for n in names:
            out.append(SeedEntry(bound, compiled.name_hash(n.encode()), matcher.spell(n), module))
    return out
