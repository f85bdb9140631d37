"""GNode: the grammar-level tree between Python's `ast` and action sequences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = ["CONVERSIONS", "GNode", "GValue"]

# FormattedValue.conversion codes (-1, ord("s"), ord("r"), ord("a")) and the constructor suffix of each.
CONVERSIONS = {-1: "None", 115: "Str", 114: "Repr", 97: "Ascii"}

GValue = Union["GNode", bytes, list["GValue"], None]


@dataclass
class GNode:
    """A node named by a grammar constructor; terminal values are `bytes`."""

    ctor: str
    fields: dict[str, GValue] = field(default_factory=dict)

    def __getitem__(self, key: str) -> GValue:
        return self.fields.get(key)
