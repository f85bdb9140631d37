"""The action alphabet: the specials every grammar shares, then constructors, then pieces.

An action expands a nonterminal (a constructor), ends a list or declines an optional (`<stop>`),
opens a terminal element of a list/optional (`<more>`), spells a terminal (a piece) and closes it
(`<end>`), leaves a scope (`<close>`) or ends the program (`<eos>`).  The compiler and the codec
both read this vocabulary; it belongs to the grammar layer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLOSE", "END", "EOS", "MORE", "SPECIALS", "STOP", "ActionVocabulary"]

EOS, CLOSE, MORE, STOP, END = 0, 1, 2, 3, 4
SPECIALS = ("<eos>", "<close>", "<more>", "<stop>", "<end>")


@dataclass(frozen=True)
class ActionVocabulary:
    """Action ids: specials, then constructors (sorted), then pieces (union over groups)."""

    constructors: tuple[str, ...]
    pieces: tuple[bytes, ...]

    @property
    def ctor_base(self) -> int:
        return len(SPECIALS)

    @property
    def piece_base(self) -> int:
        return len(SPECIALS) + len(self.constructors)

    def __len__(self) -> int:
        return self.piece_base + len(self.pieces)

    def ctor_id(self, name: str) -> int:
        return self.ctor_base + self._ctor_index[name]

    @property
    def _ctor_index(self) -> dict[str, int]:
        cache = self.__dict__.get("_ci")
        if cache is None:
            cache = {n: i for i, n in enumerate(self.constructors)}
            object.__setattr__(self, "_ci", cache)
        return cache

    def name(self, action: int) -> str:
        """A readable name for an action id."""
        if action < self.ctor_base:
            return SPECIALS[action]
        if action < self.piece_base:
            return self.constructors[action - self.ctor_base]
        return repr(self.pieces[action - self.piece_base])
