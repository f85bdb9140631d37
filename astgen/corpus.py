"""The corpus: the running interpreter's standard library (and, later, pure-Python
sources of installed packages).  Files are listed deterministically."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

__all__ = ["stdlib_files"]


def stdlib_files(include_site_packages: bool = False) -> list[Path]:
    """Every `.py` file under the interpreter's stdlib folder, tests included, sorted."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if not include_site_packages:
            dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages")]
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py"))
    return out
