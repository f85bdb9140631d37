"""The fill-in-the-middle layout shared by training and decoding (no torch).

A program with holes is a token list in which every hole is one `<hole>` token.  The model sees a
window of it around the holes being filled, then `<sep>`, then each hole's actions followed by
`<sep>`:

    <bos> ctx[ws:we] <sep> hole-1 <sep> hole-2 <sep> ...

A hole of kind "expr" stands for one subtree (it ends when that subtree is complete); a hole of
kind "list" stands for one or more consecutive elements of a list (statements, call arguments) and
ends when the model emits `<sep>` between elements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["HOLE_KINDS", "Hole", "choose_window", "layout"]

HOLE_KINDS = ("expr", "list")


@dataclass(frozen=True)
class Hole:
    """Actions [start, end) of a program cut out as a hole of `kind` ("expr" or "list")."""

    start: int
    end: int
    kind: str


def choose_window(n: int, first: int, last: int, room: int, suffix_share: float) -> tuple[int, int] | None:
    """A window [ws, we) of a length-n token list that contains positions first..last and at most
    `room` tokens: `suffix_share` of the spare room goes after `last`, the rest before `first`
    (unused room on one side goes to the other).  None if first..last alone does not fit."""
    need = last - first + 1
    spare = room - need
    if spare < 0:
        return None
    after = n - last - 1
    suffix = min(after, int(spare * suffix_share))
    prefix = min(first, spare - suffix)
    suffix = min(after, spare - prefix)
    return first - prefix, last + 1 + suffix


def layout(
    actions: Sequence[int],
    holes: Sequence[Hole],
    total: int,
    ids: Mapping[str, int],
    suffix_share: float,
    with_answers: bool = True,
) -> list[int] | None:
    """The training sequence for `holes` cut out of `actions` (at most `total` tokens), or None if
    the holes and their answers do not fit.  `ids` maps "bos", "hole", "sep" to token ids.  Without
    answers the sequence ends at the first `<sep>` (decoding reserves the room for answers itself)."""
    ctx: list[int] = []
    positions: list[int] = []
    answers: list[int] = []
    prev = 0
    for h in holes:
        ctx.extend(actions[prev : h.start])
        positions.append(len(ctx))
        ctx.append(ids["hole"])
        answers.extend(actions[h.start : h.end])
        answers.append(ids["sep"])
        prev = h.end
    ctx.extend(actions[prev:])
    room = total - 2 - (len(answers) if with_answers else 0)
    window = choose_window(len(ctx), positions[0], positions[-1], room, suffix_share)
    if window is None:
        return None
    ws, we = window
    out = [ids["bos"], *ctx[ws:we], ids["sep"]]
    if with_answers:
        out.extend(answers)
    return out
