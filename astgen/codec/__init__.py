"""The codec: Python source <-> action ids, exact on canonical form (`ast.unparse` style)."""

from __future__ import annotations

import ast
from functools import lru_cache

from astgen.codec.actions import SPAN_KINDS, ActionCodec, SpanRecorder
from astgen.codec.gnode import GNode
from astgen.codec.lift import lift, lift_expr, lift_stmt
from astgen.codec.lower import lower
from astgen.codec.source import decode_source_bytes, parse_source, read_source
from astgen.codec.text import unparse
from astgen.errors import GrammarError
from astgen.grammar import load as load_grammar
from astgen.grammar.pieces import load_pieces

__all__ = [
    "SPAN_KINDS",
    "ActionCodec",
    "Codec",
    "SpanRecorder",
    "GNode",
    "decode",
    "decode_source_bytes",
    "default_codec",
    "encode",
    "parse_source",
    "read_source",
    "unparse",
]


class Codec:
    """Source text <-> action ids for one grammar and piece vocabulary."""

    def __init__(self, actions: ActionCodec):
        self.actions = actions
        self.grammar = actions.grammar
        self.vocab = actions.vocab

    def encode_tree(self, tree: ast.Module, filename: str = "<source>") -> list[int]:
        try:
            return self.actions.encode(lower(tree))
        except GrammarError as e:
            raise GrammarError(f"{filename}: {e}") from None

    def encode(self, source: str, filename: str = "<source>") -> list[int]:
        """Action ids for `source`; raises SourceSyntaxError (file:line:col) if it does not parse."""
        return self.encode_tree(parse_source(source, filename), filename)

    def encode_spans(self, source: str, filename: str = "<source>") -> tuple[list[int], SpanRecorder]:
        """Action ids plus the spans of hole candidates (expressions, statements, bodies, arguments)."""
        return self.encode_grammar_tree(lower(parse_source(source, filename)), filename)

    def encode_grammar_tree(
        self, tree: GNode, filename: str = "<source>", hole_token: int = -1
    ) -> tuple[list[int], SpanRecorder]:
        """Action ids of a grammar tree plus its hole candidates and holes (`HOLE_CTOR` nodes, each
        emitted as `hole_token`)."""
        rec = SpanRecorder([], [])
        try:
            ids = self.actions.encode(tree, spans=rec, hole_token=hole_token)
        except GrammarError as e:
            raise GrammarError(f"{filename}: {e}") from None
        return ids, rec

    def decode_tree(self, actions: list[int]) -> ast.Module:
        return lift(self.actions.decode(list(actions)))

    def decode_hole(self, symbol: str, statements: bool, actions: list[int]) -> list[ast.stmt] | ast.expr:
        """The Python nodes of one filled hole: its statements, or its one expression.

        `symbol` is the grammar symbol the hole stood for (as recorded by `SpanRecorder.holes`)."""
        trees = self.actions.decode_hole(symbol, statements, list(actions))
        if isinstance(trees, list):
            return [lift_stmt(g) for g in trees]
        return lift_expr(trees)

    def decode(self, actions: list[int]) -> str:
        """Canonical source for a complete action sequence."""
        return unparse(self.decode_tree(actions))


@lru_cache(maxsize=4)
def default_codec(language: str = "python") -> Codec:
    """The codec for the shipped grammar and pieces."""
    return Codec(ActionCodec(load_grammar(language), load_pieces(language)))


def encode(source: str, filename: str = "<source>") -> list[int]:
    """Encode Python source with the shipped Python grammar."""
    return default_codec().encode(source, filename)


def decode(actions: list[int]) -> str:
    """Decode action ids with the shipped Python grammar."""
    return default_codec().decode(actions)
