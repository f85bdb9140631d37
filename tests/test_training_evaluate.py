"""The infill evaluation's hole text (what a fill wrote where the placeholder was) and statement
shapes (training.evaluate)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from training.evaluate import _hole_text, statement_template  # noqa: E402

HOLED = "x = f(__hole__, 2)\n"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = f(a.b, 2)\n", "a.b"),
        ("x = f(__hole__, 2)\n", "__hole__"),
        ("x = f(g(1, 2), 2)\n", "g(1, 2)"),
        ("y = f(a, 2)\n", None),  # the code around the hole differs
        ("x = f(a, 3)\n", None),
    ],
)
def test_hole_text(source: str, expected: str | None) -> None:
    assert _hole_text(HOLED, source) == expected


def test_hole_text_needs_one_placeholder() -> None:
    assert _hole_text("f(__hole__, __hole__)\n", "f(a, b)\n") is None
    assert _hole_text("f(a)\n", "f(a)\n") is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("f.x('')", "f.x('', '', '')", True),  # growing copies share a shape
        ("x = 1", "x = 'a'", True),  # constants are blanked
        ("f.x(a)", "g.x(a)", False),  # names are kept
        ("f.x(a)", "f.y(a)", False),  # attributes are kept
        ("return a", "return a + 1", False),
        ("if a:\n    b()\n    c()", "if a:\n    b()", True),  # a block is cut to its first statement
    ],
)
def test_statement_template(a: str, b: str, same: bool) -> None:
    assert (statement_template(a) == statement_template(b)) is same


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nos.path\nos.no_such_name\n", {("os", "no_such_name"): 1}),
        ("import os as o\no.getcwd()\no.nope, o.nope\n", {("o", "nope"): 2}),
        ("import os\ndef f(os):\n    return os.nope\n", {}),  # not the module there
        ("x = 1\nx.nope\n", {}),
    ],
)
def test_invented_attributes(source: str, expected: dict[tuple[str, str], int]) -> None:
    from training.evaluate import invented_attributes

    assert dict(invented_attributes(source)) == expected
