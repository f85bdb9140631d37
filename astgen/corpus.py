"""Which Python files: the running interpreter's standard library (the corpus), or the files and
folders a user names.  Files are listed deterministically."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterable
from pathlib import Path

__all__ = ["python_files", "stdlib_files"]


def python_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """The files named (folders walked for *.py, each folder's files sorted), and the paths that do not exist."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.py") if q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            missing.append(str(raw))
    return files, missing


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
