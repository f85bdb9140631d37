"""The refactoring tool's file handling: which files, what to do with each, diffs and safe writes.

One `Operation` (fill the `...` holes, rewrite a function body, rewrite the node covering a span) is
applied to each file independently.  A file is never half-written: the new bytes go to a temporary
file in the same folder (same permissions), which then replaces the original with one rename — and
only if the file still holds exactly the bytes that were read (otherwise it changed meanwhile and is
left alone).  Every failure is one `FileResult` with a one-line message; the other files go on."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from astgen.corpus import python_files
from astgen.errors import AstgenError, InvalidOptionError, NoHoleError, NoPassingFillError
from astgen.refactor.filler import HoleFiller, SamplingConfig
from astgen.refactor.splice import Span, fill_file_bytes, rewrite_function_bytes, rewrite_span_bytes

__all__ = [
    "FileResult",
    "Operation",
    "apply_operation",
    "expand_paths",
    "parse_span",
    "process_file",
    "unified_diff",
    "write_atomic",
]


@dataclass(frozen=True)
class Operation:
    """What to do to a file: kind "infill", "function" (with `function`) or "span" (with `span`)."""

    kind: str
    function: str | None = None
    span: Span | None = None
    all_holes: bool = False  # "infill": every `...`, idiomatic ones included

    def describe(self) -> str:
        if self.kind == "function":
            return f"rewrite function {self.function}"
        if self.kind == "span" and self.span is not None:
            return "rewrite span {}:{}-{}:{}".format(*self.span)
        return "fill holes"


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: "changed", "unchanged", "skipped" (no hole to fill), "check-failed" (no
    sampled fill passed the check; `new` is the most likely one, for display only) or "error" (with a
    one-line message)."""

    path: str
    status: str
    message: str = ""
    original: bytes | None = None
    new: bytes | None = None


def parse_span(text: str) -> Span:
    """`L:C-L:C` (1-based lines and columns, end inclusive) as a tuple; AstgenError if malformed."""
    try:
        start, end = text.split("-")
        l1, c1 = (int(x) for x in start.split(":"))
        l2, c2 = (int(x) for x in end.split(":"))
    except ValueError:
        raise AstgenError(f"--span {text!r}: expected LINE:COL-LINE:COL, e.g. 12:5-14:20") from None
    if (l2, c2) < (l1, c1) or min(l1, c1, l2, c2) < 1:
        raise AstgenError(f"--span {text!r}: the end must not come before the start, all numbers >= 1")
    return (l1, c1, l2, c2)


def expand_paths(paths: Iterable[str]) -> tuple[list[Path], list[FileResult]]:
    """Files to process (folders walked for *.py, sorted) and errors for paths that do not exist."""
    files, missing = python_files(paths)
    return files, [FileResult(raw, "error", f"{raw}: no such file or directory") for raw in missing]


def apply_operation(gen: HoleFiller, data: bytes, op: Operation, filename: str, sampling: SamplingConfig) -> bytes:
    """The new bytes of one file under `op` (raises AstgenError subclasses on bad input)."""
    if op.kind == "infill":
        return fill_file_bytes(gen, data, filename, sampling, op.all_holes)
    if op.kind == "function" and op.function:
        return rewrite_function_bytes(gen, data, op.function, filename, sampling)
    if op.kind == "span" and op.span is not None:
        return rewrite_span_bytes(gen, data, op.span, filename, sampling)
    raise AstgenError(f"unknown operation {op!r}")


def process_file(gen: HoleFiller, path: Path, op: Operation, sampling: SamplingConfig) -> FileResult:
    """Read one file and compute its new bytes; never raises for bad input."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        return FileResult(name, "error", f"{name}: cannot read: {e.strerror or e}")
    try:
        new = apply_operation(gen, data, op, name, sampling)
    except InvalidOptionError:
        raise  # about the options, not the file: stops the whole run with one message
    except NoHoleError as e:  # nothing to fill is not a failure: a source tree mostly has no holes
        return FileResult(name, "skipped", str(e), data)
    except NoPassingFillError as e:  # the most likely fill is shown, never written
        return FileResult(name, "check-failed", str(e), data, e.best)
    except AstgenError as e:
        return FileResult(name, "error", str(e), data)
    except RecursionError:
        return FileResult(name, "error", f"{name}: nested too deeply to process", data)
    return FileResult(name, "changed" if new != data else "unchanged", "", data, new)


def unified_diff(result: FileResult) -> str:
    """A unified diff of one changed file (decoded for display; line endings shown as they are)."""
    if result.original is None or result.new is None:
        return ""

    def lines(data: bytes) -> list[str]:
        return data.decode("utf-8", errors="replace").splitlines(keepends=True)

    name = result.path.lstrip("/")  # an absolute path reads a/tmp/x.py, not a//tmp/x.py
    return "".join(difflib.unified_diff(lines(result.original), lines(result.new), f"a/{name}", f"b/{name}"))


def write_atomic(path: Path, original: bytes, new: bytes) -> None:
    """Replace `path` by `new` with one rename, keeping its permissions; refuse if the file no longer
    holds `original` (it changed while being processed) or cannot be written.  Nothing is lost."""
    name = str(path)
    if not os.access(path, os.W_OK):
        raise AstgenError(f"{name}: not writable; left unchanged")
    try:
        current = path.read_bytes()
    except OSError as e:
        raise AstgenError(f"{name}: cannot read it again before writing: {e.strerror or e}") from None
    if current != original:
        raise AstgenError(f"{name}: changed on disk while it was being processed; left unchanged")
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".astgen-tmp")
    except OSError as e:
        raise AstgenError(f"{name}: cannot create a temporary file beside it: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise AstgenError(f"{name}: writing failed ({e.strerror or e}); left unchanged") from None
