"""Training batches of the token-level baseline: plain windows mixed with fill-in-the-middle.

The same mix as the AST model's `training.fim.MixedBatcher` (same FIM rate, same hole kinds and kind
weights, same runs of 1-6 statements or arguments, same window layout), with holes cut from the
canonical *text* at the character spans of the same syntax nodes (found with `ast` on the canonical
text), and prefix, middle and suffix tokenized separately, as at inference:

    <bos> prefix-tokens <hole> suffix-tokens <sep> middle-tokens <sep>

Differences from the AST batcher, stated: one hole per FIM example (the AST model gets 2-3 holes in a
quarter of its FIM examples), and the hole length cap is in tokens (--fim-max-hole of each model's own
units)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from astgen.codec.holes import EXPR as EXPR_HOLE
from astgen.codec.holes import Hole, layout
from astgen.codec.source import quiet_parse
from training.fim import BODY, EXPR, STMT, FimConfig, MixedBatcher

__all__ = ["TextSpans", "TokenFimBatcher", "text_spans"]


@dataclass
class TextSpans:
    """Character spans [start, end) of hole candidates in a canonical text, by kind."""

    exprs: list[tuple[int, int]] = field(default_factory=list)
    stmts: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, list id)
    bodies: list[tuple[int, int]] = field(default_factory=list)
    args: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, list id)

    def count(self, kind: int) -> int:
        return len((self.exprs, self.stmts, self.bodies, self.args)[kind])


def text_spans(text: str) -> TextSpans:
    """Hole candidates of a canonical text (ast.unparse output); empty if it does not parse."""
    try:
        tree = quiet_parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return TextSpans()
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    ascii_only = text.isascii()

    def pos(lineno: int, col: int) -> int:
        if ascii_only:
            return starts[lineno - 1] + col
        return starts[lineno - 1] + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "replace"))

    def span(node: ast.AST) -> tuple[int, int]:
        lo = pos(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        decorators = getattr(node, "decorator_list", None)
        if decorators:  # a decorated definition starts at its first '@'
            lo = pos(decorators[0].lineno, decorators[0].col_offset) - 1
        return lo, pos(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    out = TextSpans()
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # positions inside f-strings are not reliable on 3.11
            in_fstring.update(id(n) for n in ast.walk(node) if n is not node)
    n_lists = 0
    for node in ast.walk(tree):
        if id(node) in in_fstring:
            continue
        if isinstance(node, ast.expr) and hasattr(node, "end_col_offset"):
            out.exprs.append(span(node))
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                out.stmts.extend((*span(s), n_lists) for s in stmts)
                n_lists += 1
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.bodies.append((span(node.body[0])[0], span(node.body[-1])[1]))
        if isinstance(node, ast.Call):
            for group in (node.args, node.keywords):
                if group:
                    out.args.extend((*span(a), n_lists) for a in group)
                    n_lists += 1
    return out


def sample_text_hole(
    spans: TextSpans, rng: np.random.Generator, cfg: FimConfig, kind: int | None = None
) -> tuple[int, int] | None:
    """One character span to cut, drawn as `training.fim.sample_holes` draws action spans."""
    weights = np.array([w if spans.count(k) else 0.0 for k, w in enumerate(cfg.kind_weights)], dtype=np.float64)
    if kind is not None:
        weights = np.where(np.arange(4) == kind, weights, 0.0)
    if weights.sum() == 0:
        return None
    chosen = int(rng.choice(4, p=weights / weights.sum())) if kind is None else kind
    if chosen == EXPR:
        return spans.exprs[int(rng.integers(len(spans.exprs)))]
    if chosen == BODY:
        return spans.bodies[int(rng.integers(len(spans.bodies)))]
    items = spans.stmts if chosen == STMT else spans.args
    j = int(rng.integers(len(items)))
    want = min(6, int(rng.geometric(0.5))) if rng.random() < 0.5 else 1
    s, e, g = items[j]
    n = 1
    while n < want and j + n < len(items) and items[j + n][2] == g:
        e = items[j + n][1]
        n += 1
    return s, e


class TokenFimBatcher(MixedBatcher):
    """`MixedBatcher` over the token stream whose FIM examples are cut from the canonical texts."""

    def __init__(
        self,
        stream: np.ndarray,
        info: dict[str, Any],
        texts: list[str],
        tokenizer: Any,
        seq_len: int,
        batch_size: int,
        ids: dict[str, int],
        seed: int,
        fim: FimConfig,
        rank: int = 0,
    ):
        super().__init__(stream, info, None, seq_len, batch_size, ids, seed, fim, rank)
        self.texts, self.tokenizer = texts, tokenizer

    def _fim(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None] | None:
        d = int(rng.choice(len(self.doc_p), p=self.doc_p))
        text = self.texts[d]
        cut = sample_text_hole(text_spans(text), rng, self.fim)
        if cut is None:
            return None
        s, e = cut
        room = 4 * (self.seq_len + 1)  # characters of context worth tokenizing (BPE: > 1 char per token)
        prefix, middle, suffix = text[max(0, s - room) : s], text[s:e], text[e : e + room]
        p, m, x = (enc.ids for enc in self.tokenizer.encode_batch([prefix, middle, suffix], add_special_tokens=False))
        if not m or len(m) > self.fim.max_hole:
            return None
        if e + room >= len(text):
            x = [*x, self.ids["eot"]]  # the suffix reaches the end of the document
        suffix_share = float(rng.uniform(0.1, 0.5))
        seq = layout([*p, *m, *x], [Hole(len(p), len(p) + len(m), EXPR_HOLE)], self.seq_len + 1, self.ids, suffix_share)
        return None if seq is None else (np.asarray(seq, dtype=np.int64), None)
