"""astgen.validity.added_name_reports: undefined names a fill causes, apart from those the code after
the hole needs from the code it replaced."""

from __future__ import annotations

import pytest

from astgen.validity import added_name_reports

ORIGINAL = "def f(a):\n    total = a\n    return total\n"
HOLED = "def f(a):\n    __hole__\n    return total\n"


@pytest.mark.parametrize(
    ("filled", "in_fill", "suffix"),
    [
        ("def f(a):\n    total = a + 1\n    return total\n", 0, 0),
        ("def f(a):\n    print(a)\n    return total\n", 0, 1),  # the read after the hole lost its binding
        ("def f(a):\n    total = b\n    return total\n", 1, 0),  # the fill reads a name nothing binds
        ("def f(a):\n    print(total)\n    return total\n", 1, 1),
    ],
)
def test_reports_are_split_between_fill_and_suffix(filled: str, in_fill: int, suffix: int) -> None:
    mine, theirs = added_name_reports(filled, ORIGINAL, HOLED)
    assert (sum(mine.values()), sum(theirs.values())) == (in_fill, suffix)
