"""Byte-exact hole filling of real files (LibCST): before/after cases, and rewrites on the stdlib."""

from __future__ import annotations

import random

import libcst as cst
import pytest

from astgen.errors import AstgenError, NoHoleError, SourceSyntaxError, UnsupportedSourceError
from tests.conftest import stdlib_sample

pytest.importorskip("torch")

from astgen.refactor import (  # noqa: E402
    SamplingConfig,
    fill_file_bytes,
    parse_file_bytes,
    rewrite_function_bytes,
    rewrite_span_bytes,
)

SAMPLING = SamplingConfig(max_actions=16, temperature=1.0, seed=3)


def _outside_holes_equal(before: bytes, after: bytes) -> None:
    first, last = before.index(b"..."), before.rindex(b"...") + 3
    if before[:first].endswith(b": "):  # a one-line suite `def m(self): ...` is replaced as a whole
        first -= 1
    if before[last:].startswith(b";"):  # so is a line of several statements
        last = before.index(b"\n", last) + 1
        first = min(first, before.rindex(b"\n", 0, before.rindex(b"...")) + 1)
    assert after.startswith(before[:first]) and after.endswith(before[last:])


CASES = {
    "crlf_bom_cookie_tabs": (
        b"\xef\xbb\xbf# -*- coding: utf-8 -*-\r\nimport os\r\n\r\n\r\ndef f(a):\r\n\t# above\r\n\t...  # beside\r\n"
        b"\treturn g(1, ..., a[...])\r\n\r\n# tail comment\r\n"
    ),
    "nested_decorated_async": (
        b"@decorate(...)\nasync def outer():\n    async def inner(x):\n        async with x as y:\n"
        b"            ...\n    return inner\n"
    ),
    "one_liners_and_semicolons": b"class A:\n  def m(self): ...\n  x = [1, ...]\n  y = 3 * ...\nz = 1; ...; w = 2\n",
    "comments_inside_expression": b"value = compute(\n    1,  # first\n    ...,  # the hole\n    3,\n)\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_infill_keeps_every_byte_outside_the_holes(tiny_generator, name: str) -> None:  # type: ignore[no-untyped-def]
    before = CASES[name]
    after = fill_file_bytes(tiny_generator, before, f"{name}.py", SAMPLING)
    compile(after, name, "exec")
    _outside_holes_equal(before, after)
    assert cst.parse_module(after).code.count("__astgen_hole_") == 0
    if before.startswith(b"\xef\xbb\xbf"):
        assert after.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in before:  # every line of the new code ends like the file's lines
        assert after.count(b"\n") == after.count(b"\r\n")
    if b"\t..." in before:  # the file's indent unit is used for the new statements
        body = after.split(b"def f(a):")[1].split(b"return g")[0]
        assert all(line.startswith(b"\t") for line in body.split(b"\r\n") if line.strip())
    for comment in (b"# above", b"# beside", b"# tail comment", b"# first", b"# the hole"):
        assert (comment in before) == (comment in after)


def test_rewrite_function_keeps_the_docstring_and_the_rest(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    before = b'import os\n\nclass K:\n    def run(self, n):\n        """Run n times."""\n        return n * 2\n\n\ndef run():\n    return 1\n'
    after = rewrite_function_bytes(tiny_generator, before, "K.run", "k.py", SAMPLING)
    head, tail = before.split(b"        return n * 2\n")
    assert after.startswith(head) and after.endswith(tail)
    compile(after, "k.py", "exec")
    with pytest.raises(AstgenError, match="no function named 'missing'"):
        rewrite_function_bytes(tiny_generator, before, "missing", "k.py", SAMPLING)


def test_rewrite_span_picks_the_smallest_readable_node(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    before = b"def f(a, b):\n    total = a + b * 2\n    return total\n"
    after = rewrite_span_bytes(tiny_generator, before, (2, 17, 2, 21), "s.py", SAMPLING)  # `b * 2`
    assert after.startswith(b"def f(a, b):\n    total = a + ") and after.endswith(b"\n    return total\n")
    after = rewrite_span_bytes(tiny_generator, before, (2, 5, 2, 9), "s.py", SAMPLING)  # `total`: a target
    assert after.startswith(b"def f(a, b):\n") and after.endswith(b"    return total\n")
    with pytest.raises(AstgenError, match="outside the file"):
        rewrite_span_bytes(tiny_generator, before, (9, 1, 9, 2), "s.py", SAMPLING)


@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        (b"def f(:\n    ...\n", SourceSyntaxError, "bad.py:1:"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", UnsupportedSourceError, "binary"),
        (b"x = 1\n", NoHoleError, "no hole"),
    ],
)
def test_bad_input_is_typed(tiny_generator, data: bytes, error: type, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=needle):
        fill_file_bytes(tiny_generator, data, "bad.py", SAMPLING)


def _statement_spans(data: bytes) -> list[tuple[tuple[int, int, int, int], int, int]]:
    """(span, start byte, end byte) of every simple statement line of a file."""
    module = cst.parse_module(data)
    wrapper = cst.MetadataWrapper(module, unsafe_skip_copy=True)
    pos = wrapper.resolve(cst.metadata.PositionProvider)
    spans = wrapper.resolve(cst.metadata.ByteSpanPositionProvider)
    out = []
    for node, p in pos.items():
        if isinstance(node, cst.SimpleStatementLine) and p.start.line == p.end.line:
            b = spans[node]
            out.append(((p.start.line, p.start.column + 1, p.end.line, p.end.column), b.start, b.start + b.length))
    return out


def _rewrite_random_statements(tiny_generator, paths) -> None:  # type: ignore[no-untyped-def]
    from astgen.codec import parse_source, read_source

    done = refused = 0
    for path in paths:
        try:
            parse_source(read_source(path), str(path))
        except AstgenError:
            continue  # the few stdlib files Python itself rejects (test data for bad encodings, syntax)
        data = path.read_bytes()
        try:
            parse_file_bytes(data, str(path))
        except UnsupportedSourceError as e:  # LibCST cannot parse or round-trip the file: refused, untouched
            assert "LibCST" in str(e)
            refused += 1
            continue
        spans = _statement_spans(data)
        if not spans:
            continue
        span, start, end = random.Random(path.name).choice(spans)
        try:
            after = rewrite_span_bytes(tiny_generator, data, span, str(path), SAMPLING)
        except UnsupportedSourceError:  # pragma: no cover - parse_file_bytes above refused these already
            refused += 1
            continue
        compile(after, str(path), "exec")
        # the bytes before and after the replaced statement's line(s) are the original's
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", end) + 1 or len(data)
        assert after.startswith(data[:line_start]), path
        assert after.endswith(data[line_end:]), path
        done += 1
    print(f"rewrote a random statement in {done} files; {refused} refused (LibCST cannot parse/reproduce them)")
    assert done >= len(paths) * 0.9


def test_rewrite_random_statements_of_stdlib_files(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    _rewrite_random_statements(tiny_generator, stdlib_sample(12, seed=5))


@pytest.mark.slow
def test_rewrite_random_statements_of_500_stdlib_files(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    _rewrite_random_statements(tiny_generator, stdlib_sample(500, seed=6))
