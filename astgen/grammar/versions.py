"""Target Python versions: which syntax generated code may use (grammar constructors marked `@since`).

Generated code is lifted through the running interpreter's `ast`, so a target may be older than the
running Python, never newer.  Pure Python, no torch."""

from __future__ import annotations

import re
import sys

from astgen.errors import InvalidOptionError

__all__ = ["RUNNING", "SUPPORTED", "Version", "parse_version", "version_text"]

Version = tuple[int, int]
SUPPORTED: tuple[Version, ...] = ((3, 11), (3, 12), (3, 13))
RUNNING: Version = (sys.version_info[0], sys.version_info[1])


def version_text(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def parse_version(value: str | Version) -> Version:
    """A target version from "3.11" or (3, 11); InvalidOptionError if it is unsupported or newer than
    the running Python."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", value)
        if not m:
            raise InvalidOptionError(f"target version must look like 3.12, got {value!r}")
        v: Version = (int(m.group(1)), int(m.group(2)))
    else:
        v = (int(value[0]), int(value[1]))
    if v not in SUPPORTED:
        known = ", ".join(version_text(s) for s in SUPPORTED)
        raise InvalidOptionError(f"target version {version_text(v)} is not one of {known}")
    if v > RUNNING:
        raise InvalidOptionError(
            f"target version {version_text(v)} is newer than the running Python {version_text(RUNNING)}; "
            "astgen writes code through the running interpreter's ast, so run a newer Python"
        )
    return v
