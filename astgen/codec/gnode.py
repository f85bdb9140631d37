"""GNode: the grammar-level tree between Python's `ast` and action sequences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = ["GNode", "GValue"]

GValue = Union["GNode", bytes, list["GValue"], None]


@dataclass
class GNode:
    """A node named by a grammar constructor; terminal values are `bytes`."""

    ctor: str
    fields: dict[str, GValue] = field(default_factory=dict)

    def __getitem__(self, key: str) -> GValue:
        return self.fields.get(key)
