"""Bad input gets a typed error with a location; odd but valid input encodes correctly."""

from __future__ import annotations

from pathlib import Path

import pytest

from astgen.codec import Codec, read_source
from astgen.errors import GrammarError, SourceSyntaxError, UnsupportedSourceError
from astgen.grammar.actions import EOS


def test_syntax_error_carries_file_line_col(codec: Codec) -> None:
    with pytest.raises(SourceSyntaxError) as info:
        codec.encode("x = 1\ndef f(:\n    pass\n", "bad.py")
    err = info.value
    assert (err.filename, err.lineno) == ("bad.py", 2)
    assert err.col is not None
    assert str(err).startswith("bad.py:2:")


def test_binary_file_is_unsupported(tmp_path: Path) -> None:
    p = tmp_path / "blob.py"
    p.write_bytes(b"\x7fELF\x00\x01\x02")
    with pytest.raises(UnsupportedSourceError, match="binary"):
        read_source(p)


def test_undecodable_file_is_unsupported(tmp_path: Path) -> None:
    p = tmp_path / "bad.py"
    p.write_bytes(b"x = '\xff\xfe'\n")
    with pytest.raises(UnsupportedSourceError, match="not UTF-8"):
        read_source(p)


def test_empty_file_encodes_to_an_empty_module(codec: Codec, tmp_path: Path) -> None:
    p = tmp_path / "empty.py"
    p.write_bytes(b"")
    ids = codec.encode(read_source(p))
    assert ids[-1] == EOS
    assert codec.decode(ids) == ""


def test_coding_cookie_is_honoured(codec: Codec, tmp_path: Path) -> None:
    p = tmp_path / "latin.py"
    p.write_bytes("# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1"))
    src = read_source(p)
    assert "café" in src
    assert "café" in codec.decode(codec.encode(src))


def test_bom_is_stripped(codec: Codec, tmp_path: Path) -> None:
    p = tmp_path / "bom.py"
    p.write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert codec.decode(codec.encode(read_source(p))) == "x = 1"


@pytest.mark.parametrize("cut", [1, 5, -2])
def test_truncated_action_sequence_is_a_grammar_error(codec: Codec, cut: int) -> None:
    ids = codec.encode("def f(a, b):\n    return a + b\n")
    with pytest.raises(GrammarError):
        codec.decode(ids[:cut])


def test_invalid_action_is_a_grammar_error(codec: Codec) -> None:
    ids = codec.encode("x = 1\n")
    ids[1] = ids[1] + 1 if ids[1] + 1 < codec.vocab.piece_base else ids[1] - 1
    with pytest.raises(GrammarError):
        codec.decode(ids)


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("return 1\n", "return outside function"),
        ("break\n", "break outside loop"),
        ("def f():\n    x = [(yield) for _ in y]\n", "yield in comprehension"),
        ("async def f():\n    yield 1\n    return 2\n", "return value in async generator"),
        ("def f():\n    await x\n", "await outside async"),
    ],
)
def test_code_compile_rejects_is_outside_the_grammar(codec: Codec, source: str, why: str) -> None:
    with pytest.raises(GrammarError):
        codec.encode(source)
