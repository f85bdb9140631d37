"""Running one refactoring operation over files and folders: a diff (default), the new text, the
writes or a check, with a progress bar and optionally worker processes.

This is the command line's `infill` / `rewrite` without the option parsing: `run_files` prints what
the user asked for and returns the exit code (0 done, 1 `check` found changes, 2 some file failed, 3 no
sampled fill of some file passed its check)."""

from __future__ import annotations

import ast
import multiprocessing as mp
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from astgen.errors import AstgenError
from astgen.refactor.files import (
    FileResult,
    Operation,
    apply_operation,
    expand_paths,
    process_file,
    unified_diff,
    write_atomic,
)
from astgen.refactor.filler import HoleFiller, SamplingConfig

__all__ = ["Output", "run_files"]

Output = Literal["diff", "print", "in-place", "check"]
Loader = Callable[[], HoleFiller]

_WORKER: dict[str, HoleFiller] = {}


def _worker_init(loader: Loader) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["gen"] = loader()


def _worker(job: tuple[Path, Operation, SamplingConfig]) -> FileResult:
    path, op, sampling = job
    return process_file(_WORKER["gen"], path, op, sampling)


class _LoadOnFirstFill:
    """A HoleFiller that makes the model on its first fill: a run whose files fail to parse or have no
    hole answers without waiting for the model to load."""

    def __init__(self, loader: Loader):
        self._loader = loader
        self._filler: HoleFiller | None = None

    def _get(self) -> HoleFiller:
        if self._filler is None:
            self._filler = self._loader()
        return self._filler

    def fill_holes(self, *args: Any, **kw: Any) -> dict[int, list[ast.stmt] | ast.expr]:
        return self._get().fill_holes(*args, **kw)

    def fill_candidates(self, *args: Any, **kw: Any) -> list[tuple[dict[int, list[ast.stmt] | ast.expr], float]]:
        return self._get().fill_candidates(*args, **kw)


def _error(msg: str) -> None:
    print(f"astgen: error: {msg}", file=sys.stderr)


def run_files(
    paths: list[str], op: Operation, sampling: SamplingConfig, output: Output, jobs: int, loader: Loader
) -> int:
    """Apply `op` to every file (folders walked for *.py; `-` = stdin to stdout); `loader` makes the
    model (once, or once per worker process when `jobs` > 1: it must then be picklable)."""
    from tqdm import tqdm

    if paths == ["-"]:
        data = sys.stdin.buffer.read()
        sys.stdout.buffer.write(apply_operation(_LoadOnFirstFill(loader), data, op, "<stdin>", sampling))
        return 0
    files, results = expand_paths(paths)
    jobs = max(1, min(jobs, len(files)))
    bar = tqdm(total=len(files), desc="astgen", unit="file", disable=len(files) < 2, file=sys.stderr)
    if jobs == 1:
        gen = _LoadOnFirstFill(loader)
        for path in files:
            results.append(process_file(gen, path, op, sampling))
            bar.update()
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(jobs, initializer=_worker_init, initargs=(loader,)) as pool:
            for r in pool.imap(_worker, [(p, op, sampling) for p in files]):
                results.append(r)
                bar.update()
    bar.close()
    errors = changed = unchecked = 0
    for r in results:
        if r.status == "error":
            errors += 1
            _error(r.message)
            continue
        if r.status == "check-failed":
            unchecked += 1
            shown = output in ("diff", "print")
            kept = "its most likely fill follows, not written" if shown else "left unchanged"
            _error(f"{r.message}; {kept}")
            if output == "diff":
                sys.stdout.write(unified_diff(r))
            elif output == "print" and r.new is not None:
                sys.stdout.buffer.write(r.new)
            sys.stdout.flush()
            continue
        if r.status != "changed" or r.new is None or r.original is None:
            continue
        changed += 1
        if output == "check":
            print(f"would change: {r.path}", flush=True)
        elif output == "in-place":
            try:
                write_atomic(Path(r.path), r.original, r.new)
            except AstgenError as e:
                errors += 1
                _error(str(e))
                continue
            print(f"rewrote {r.path}", file=sys.stderr)
        elif output == "print":
            if len(files) > 1:  # several files: a header before each, as `head` writes them
                sys.stdout.buffer.write(f"==> {r.path} <==\n".encode())
            sys.stdout.buffer.write(r.new)
            sys.stdout.flush()
        elif output == "diff":
            sys.stdout.write(unified_diff(r))
            sys.stdout.flush()
    named = {Path(p) for p in paths if Path(p).is_file()}  # files the user named, not found in a folder
    for r in results:
        if r.status == "skipped" and Path(r.path) in named:
            print(f"astgen: {r.message}", file=sys.stderr)
    skipped = sum(r.status == "skipped" for r in results)
    if len(results) > 1 or skipped:
        filled = sum(r.status in ("changed", "unchanged") for r in results)  # read, had holes, filled
        holes = f", {filled} with holes" if op.kind == "infill" else ""
        verb = "would change" if output in ("check", "diff", "print") else "changed"
        files_text = f"{len(results)} file" + ("s" if len(results) != 1 else "")
        checked = f", {unchecked} without a passing fill" if unchecked else ""
        print(f"{files_text}{holes}, {changed} {verb}{checked}, {errors} failed", file=sys.stderr)
    if errors:
        return 2
    if unchecked:
        return 3
    return 1 if output == "check" and changed else 0
