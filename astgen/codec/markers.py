"""The marker names that stand for holes in source: `__astgen_hole_<k>__` is hole k.

The refactoring tool and the research cases write holes as these names so that a file, its canonical
AST and the model agree on which hole is which."""

from __future__ import annotations

import re

__all__ = ["MARKER", "marker_index", "marker_name"]

MARKER = re.compile(r"__astgen_hole_(\d+)__")


def marker_name(k: int) -> str:
    """The marker name of hole k."""
    return f"__astgen_hole_{k}__"


def marker_index(name: str) -> int | None:
    """k for a marker name `__astgen_hole_<k>__`, None for any other name."""
    match = MARKER.fullmatch(name)
    return int(match.group(1)) if match else None
