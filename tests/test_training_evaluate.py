"""The infill evaluation's hole text: what a fill wrote where the placeholder was (training.evaluate)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from training.evaluate import _hole_text  # noqa: E402

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
