"""Training batches: plain windows of the action stream mixed with tree-level fill-in-the-middle.

A FIM example cuts one or more hole candidates (recorded by the codec while encoding, see
`astgen.codec.SPAN_KINDS`) out of a document and lays it out as

    <bos> context-with-<hole>-tokens <sep> hole-1 actions <sep> hole-2 actions <sep> ...

where the context is a window of the document around the holes.  This is exactly what
`astgen.infill` feeds the model (see `astgen.infill.layout`), so training and decoding agree on
where a hole ends: after its subtree (an expression, a body) or after the last of a run of list
elements (statements, call arguments), the next action is `<sep>`.

Every batch depends only on (seed, step, rank), which keeps resuming exact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from astgen.codec.holes import EXPR as EXPR_HOLE
from astgen.codec.holes import LIST as LIST_HOLE
from astgen.codec.holes import Hole, layout
from astgen.codec.refs import NameRefs

__all__ = ["FimConfig", "MixedBatcher", "sample_holes"]

IGNORE = -100
# with name references, examples are laid out this much longer before they are compressed (a
# compressed action window is ~0.83 of its length on the standard library); a FIM example tries each
# factor until it fits, a plain window reads the first and keeps what fits
_REF_READ = (1.3, 1.18, 1.08)
# kind ids follow astgen.codec.SPAN_KINDS = ("expr", "stmt", "body", "arg")
EXPR, STMT, BODY, ARG = 0, 1, 2, 3


@dataclass(frozen=True)
class FimConfig:
    """How often and what to cut: `rate` of the examples are FIM; holes are at most `max_hole` actions."""

    rate: float = 0.5
    max_hole: int = 256
    kind_weights: tuple[float, float, float, float] = (0.35, 0.35, 0.15, 0.15)
    extra_holes: float = 0.25  # probability of one or two more holes near the first


def _kind_range(doc: dict[str, Any], kind: int) -> tuple[int, int]:
    counts = doc["span_counts"]
    lo = int(doc["span_offset"]) + sum(int(c) for c in counts[:kind])
    return lo, lo + int(counts[kind])


def _run(spans: np.ndarray, j: int, hi: int, want: int, max_len: int) -> tuple[int, int]:
    """Extend element j of a list over following elements of the same group (contiguous actions)."""
    s, e, _, g = (int(x) for x in spans[j])
    n = 1
    while n < want and j + n < hi:
        s2, e2, _, g2 = (int(x) for x in spans[j + n])
        if g2 != g or s2 != e or e2 - s > max_len:
            break
        e = e2
        n += 1
    return s, e


def sample_holes(
    doc: dict[str, Any], spans: np.ndarray, rng: np.random.Generator, cfg: FimConfig, kind: int | None = None
) -> list[Hole]:
    """One hole (sometimes a few) of a random kind in `doc`; [] if the document has no fitting candidate."""
    weights = np.array(cfg.kind_weights, dtype=np.float64)
    for k in range(4):
        lo, hi = _kind_range(doc, k)
        if hi == lo or (kind is not None and k != kind):
            weights[k] = 0.0
    if weights.sum() == 0:
        return []
    chosen = int(rng.choice(4, p=weights / weights.sum())) if kind is None else kind
    lo, hi = _kind_range(doc, chosen)
    first: Hole | None = None
    for _ in range(8):
        j = int(rng.integers(lo, hi))
        if chosen in (STMT, ARG):
            want = 1 + int(rng.geometric(0.5)) - 1 if rng.random() < 0.5 else 1
            s, e = _run(spans, j, hi, min(want, 6), cfg.max_hole)
        else:
            s, e = int(spans[j, 0]), int(spans[j, 1])
        if 0 < e - s <= cfg.max_hole:
            first = Hole(s, e, EXPR_HOLE if chosen == EXPR else LIST_HOLE)
            break
    if first is None:
        return []
    holes = [first]
    if rng.random() < cfg.extra_holes:
        budget = cfg.max_hole - (first.end - first.start)
        for _ in range(int(rng.integers(1, 3))):
            k = EXPR if rng.random() < 0.6 else STMT
            lo, hi = _kind_range(doc, k)
            if hi == lo:
                continue
            j = int(rng.integers(lo, hi))
            s, e = int(spans[j, 0]), int(spans[j, 1])
            near = min(abs(s - h.end) for h in holes) < 200 or min(abs(h.start - e) for h in holes) < 200
            overlaps = any(s < h.end and h.start < e for h in holes)
            if 0 < e - s <= budget and near and not overlaps:
                holes.append(Hole(s, e, EXPR_HOLE if k == EXPR else LIST_HOLE))
                budget -= e - s
    return sorted(holes, key=lambda h: h.start)


class MixedBatcher:
    """[batch, seq_len + 1] token and label tensors: plain windows and FIM examples, padded with <pad>.

    Labels are the tokens themselves with IGNORE at padding and at the first action after <bos>
    (predicted from no context); the loss is next-token cross-entropy over labels[:, 1:]."""

    def __init__(
        self,
        stream: np.ndarray,
        info: dict[str, Any],
        spans: np.ndarray | None,
        seq_len: int,
        batch_size: int,
        ids: dict[str, int],
        seed: int,
        fim: FimConfig,
        rank: int = 0,
        states: Any = None,  # an array, or training.tree_features.StreamStates: anything sliced like the stream
        state_ids: dict[str, int] | None = None,
        refs: NameRefs | None = None,  # names as references (astgen.codec.refs); needs `states`
    ):
        if len(stream) <= seq_len:
            raise ValueError(f"the training stream has {len(stream)} actions, fewer than one window of {seq_len}")
        self.stream, self.info, self.spans = stream, info, spans
        self.seq_len, self.batch_size, self.ids = seq_len, batch_size, ids
        self.seed, self.rank, self.fim = seed, rank, fim
        # optional per-action features laid out exactly like the actions (training.tree_features)
        self.states, self.state_ids = states, state_ids
        if refs is not None and (states is None or state_ids is None):
            raise ValueError("name references need the tree states of the stream (states, state_ids)")
        self.refs = refs
        docs = info["documents"]
        lengths = np.array([d["length"] for d in docs], dtype=np.float64)
        self.doc_p = lengths / lengths.sum()

    def _window(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        start = int(rng.integers(0, len(self.stream) - self.seq_len))
        # with references a window of actions shrinks: read more, compress, keep seq_len + 1 positions
        span = self.seq_len if self.refs is None else min(int(self.seq_len * _REF_READ[0]), len(self.stream) - start)
        row = np.concatenate([[self.ids["bos"]], self.stream[start : start + span].astype(np.int64)])
        if self.states is None or self.state_ids is None:
            return row, None
        feats = np.concatenate([[self.state_ids["bos"]], self.states[start : start + span].astype(np.int64)])
        if self.refs is not None:
            c = self.refs.compress(row.tolist(), feats.tolist())
            n = self.seq_len + 1
            return np.asarray(c.tokens[:n], dtype=np.int64), np.asarray(c.states[:n], dtype=np.int64)
        return row, feats

    def _fim(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None] | None:
        if self.spans is None:
            return None
        doc = self.info["documents"][int(rng.choice(len(self.doc_p), p=self.doc_p))]
        holes = sample_holes(doc, self.spans, rng, self.fim)
        if not holes:
            return None
        off = int(doc["offset"])
        actions = self.stream[off : off + int(doc["length"])].astype(np.int64)
        suffix_share = float(rng.uniform(0.1, 0.5))
        n = self.seq_len + 1
        if self.refs is not None:  # references shrink the example: lay out more context if it then fits
            for read in _REF_READ:
                got = self._fim_layout(actions, off, int(doc["length"]), holes, int(n * read), suffix_share)
                if got is not None and len(got[0]) <= n:
                    return got
        return self._fim_layout(actions, off, int(doc["length"]), holes, n, suffix_share)

    def _fim_layout(
        self, actions: np.ndarray, off: int, length: int, holes: list[Hole], n: int, suffix_share: float
    ) -> tuple[np.ndarray, np.ndarray | None] | None:
        seq = layout(actions, holes, n, self.ids, suffix_share, with_answers=True)  # type: ignore[arg-type]
        if seq is None:
            return None
        if self.states is None or self.state_ids is None:
            return np.asarray(seq, dtype=np.int64), None
        feats = layout(self.states[off : off + length].tolist(), holes, n, self.state_ids, suffix_share,
                       with_answers=True)  # fmt: skip
        if self.refs is not None:
            c = self.refs.compress(seq, feats)  # type: ignore[arg-type]
            return np.asarray(c.tokens, dtype=np.int64), np.asarray(c.states, dtype=np.int64)
        return np.asarray(seq, dtype=np.int64), np.asarray(feats, dtype=np.int64)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, labels, _ = self.batch_with_states(step)
        return tokens, labels

    def batch_with_states(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`batch(step)` plus the per-position state features (None without `states`); the same draws."""
        rng = np.random.default_rng([self.seed, step, self.rank])
        length = self.seq_len + 1
        tokens = np.full((self.batch_size, length), self.ids["pad"], dtype=np.int64)
        labels = np.full((self.batch_size, length), IGNORE, dtype=np.int64)
        feats = np.zeros((self.batch_size, length), dtype=np.int64) if self.state_ids is not None else None
        for b in range(self.batch_size):
            got = self._fim(rng) if rng.random() < self.fim.rate else None
            row, frow = got if got is not None else self._window(rng)
            tokens[b, : len(row)] = row
            labels[b, 2 : len(row)] = row[2:]
            if feats is not None and frow is not None:
                feats[b, : len(frow)] = frow
        return torch.from_numpy(tokens), torch.from_numpy(labels), None if feats is None else torch.from_numpy(feats)
