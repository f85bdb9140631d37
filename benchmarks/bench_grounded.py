"""Execution-grounded selection on held-out functions with executable checks (issue 16).

Tasks are top-level functions of test-split files (standard library and installed packages) that carry
their own check: doctest examples, or a parameterless `test*` function's asserts
(`astgen.research.functional.find_tasks`; the original module must pass and, for doctests, a broken
body must fail; tasks whose check takes over `--max-check-seconds` on the original are left out, since a
hole may run it 16 times).  In each task's function, holes of each kind (expression, statement, whole body) are
cut (`cases_in_function`, seeded); a hole the check never executes (a raising fill still passes) is
dropped.  Every hole is filled by each mode through the library's `Generator.infill_candidates`:

  greedy       one greedy fill
  sample       one fill at temperature 0.8, top-p 0.95
  select-4     4 samples in one batch, the most likely one that passes the task's check
  select-16    16 samples, likewise

Reported per hole kind and mode: pass (the chosen fill passes the task's check), exact match, batched
model calls and row-calls per hole, wall seconds per hole (checks included).  Checks run in the sandbox.

    PYTHONPATH=. python -m benchmarks.bench_grounded --tasks 40 --json docs/grounded.json
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astgen.checks import CallableCheck
from astgen.codec import read_source, unparse
from astgen.errors import AstgenError
from astgen.generator import Generator, load
from astgen.research.cases import InfillCase, cases_in_function
from astgen.research.functional import FunctionalTask, find_tasks, run_check
from training.machine import describe

__all__ = ["MODES", "main"]

MODES = {  # name -> (samples, temperature, top_p)
    "greedy": (1, 0.0, 1.0),
    "sample": (1, 0.8, 0.95),
    "select-4": (4, 0.8, 0.95),
    "select-16": (16, 0.8, 0.95),
}
_RAISE_STMT = "raise AssertionError('hole')"
_RAISE_EXPR = "(_ for _ in ()).throw(AssertionError('hole'))"


def _documents(data: Path) -> list[tuple[str, str]]:
    """(path, canonical source) of the test split's files, in a seeded random order."""
    paths = (data / "splits" / "test.txt").read_text().split()
    docs = []
    for p in paths:
        try:
            docs.append((p, unparse(ast.parse(read_source(p), p))))
        except (OSError, SyntaxError, ValueError, RecursionError):
            continue
    order = np.random.default_rng(0).permutation(len(docs))
    return [docs[int(i)] for i in order]


def _holes(tasks: list[FunctionalTask], max_check_s: float) -> list[tuple[FunctionalTask, InfillCase]]:
    """Exercised holes of every kind in each task's function (none where the module already has `...`,
    none in tasks whose check takes longer than `max_check_s` on the original: up to 16 runs per hole)."""
    out = []
    for k, task in enumerate(tasks):
        if any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(ast.parse(task.source))):
            continue  # its own `...` would be holes too
        if run_check(task, task.source).seconds > max_check_s:
            continue
        for case in cases_in_function(task.path, task.source, task.function, seed=k, kinds=("expr", "stmt", "body")):
            try:
                ast.parse(case.filled_text("..."))
            except SyntaxError:
                continue  # a target position: `...` cannot stand there (the library's holes are `...`)
            broken = _RAISE_STMT if case.kind in ("stmt", "body") else _RAISE_EXPR
            if not run_check(task, case.filled_text(broken)).passed:
                out.append((task, case))
    return out


def _fill(gen: Generator, task: FunctionalTask, case: InfillCase, mode: str, seed: int) -> dict[str, Any]:
    samples, temperature, top_p = MODES[mode]
    check = CallableCheck(lambda source: run_check(task, source).passed)
    calls, rows = gen.stats.model_calls, gen.stats.row_calls
    start = time.perf_counter()
    try:
        selection = gen.infill_candidates(
            case.filled_text("..."), samples, check, filename=task.path, temperature=temperature, top_p=top_p,
            seed=seed, max_actions=256, all_holes=True,
        )  # fmt: skip
    except AstgenError as e:  # e.g. InfillError: no filling compiled (counted as a failure, reported)
        return {
            "pass": False, "exact": False, "distinct": 0, "checked": 0, "error": str(e),
            "model_calls": gen.stats.model_calls - calls, "row_calls": gen.stats.row_calls - rows,
            "seconds": time.perf_counter() - start,
        }  # fmt: skip
    return {
        "pass": bool(selection.passed),
        "exact": case.matches(selection.chosen.source),
        "distinct": len(selection.candidates),
        "checked": sum(c.outcome is not None for c in selection.candidates),
        "model_calls": gen.stats.model_calls - calls,
        "row_calls": gen.stats.row_calls - rows,
        "seconds": time.perf_counter() - start,
    }


def _group(r: dict[str, Any]) -> str:
    """A hole's row in the tables: its task's check and its kind (a `test*` function's statement or body
    hole can pass by dropping asserts, a doctest hole cannot: they are kept apart)."""
    return f"{r['check']} {r['kind']}"


def _table(results: list[dict[str, Any]]) -> dict[str, Any]:
    groups = sorted({_group(r) for r in results})
    out: dict[str, Any] = {}
    for mode in MODES:
        per: dict[str, Any] = {}
        for group in [*groups, "all"]:
            rows = [r[mode] for r in results if group == "all" or _group(r) == group]
            if not rows:
                continue
            n = len(rows)
            per[group] = {
                "n": n,
                "pass": sum(r["pass"] for r in rows),
                "exact": sum(r["exact"] for r in rows),
                "model_calls_per_hole": round(sum(r["model_calls"] for r in rows) / n, 1),
                "row_calls_per_hole": round(sum(r["row_calls"] for r in rows) / n, 1),
                "seconds_per_hole": round(sum(r["seconds"] for r in rows) / n, 2),
            }
        out[mode] = per
    return out


def _markdown(table: dict[str, Any]) -> str:
    lines = [
        "| mode | check, hole kind | holes | pass | exact | model calls / hole | row-calls / hole | s / hole |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, per in table.items():
        for kind, r in per.items():
            lines.append(
                f"| {mode} | {kind} | {r['n']} | {r['pass']} ({100 * r['pass'] / r['n']:.1f}%) | {r['exact']} | "
                f"{r['model_calls_per_hole']} | {r['row_calls_per_hole']} | {r['seconds_per_hole']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data", help="corpus folder (training.data); its test split is used")
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the shipped one)")
    ap.add_argument("--tasks", type=int, default=40, help="functions with checks to take")
    ap.add_argument("--per-module", type=int, default=2, help="at most this many tasks from one file")
    ap.add_argument("--max-check-seconds", type=float, default=1.0, help="skip tasks whose check is slower")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--from-json", default=None, help="only print the tables of an earlier run's JSON")
    args = ap.parse_args(argv)
    if args.from_json:
        print(_markdown(_table(json.loads(Path(args.from_json).read_text())["holes_detail"])))
        return
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    docs = _documents(Path(args.data))
    tasks = find_tasks(docs, limit=args.tasks, per_module=args.per_module)
    holes = _holes(tasks, args.max_check_seconds)
    found = time.perf_counter() - t0
    print(f"{len(tasks)} tasks, {len(holes)} exercised holes ({found:.0f} s to find)", file=sys.stderr, flush=True)
    gen = load(args.checkpoint)
    partial = Path(args.json + ".partial") if args.json else None
    results: list[dict[str, Any]] = []
    if partial is not None and partial.exists():  # resume an interrupted run (same options)
        results = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
    for k, (task, case) in enumerate(holes):
        if k < len(results):
            continue
        row: dict[str, Any] = {"path": task.path, "function": task.function, "check": task.check, "kind": case.kind}
        for mode in MODES:
            row[mode] = _fill(gen, task, case, mode, seed=k)
        results.append(row)
        if partial is not None:
            with partial.open("a") as f:
                f.write(json.dumps(row) + "\n")
        print(
            f"[{k + 1}/{len(holes)}] {task.function} {case.kind}: "
            + " ".join(f"{m}={'P' if row[m]['pass'] else '-'}" for m in MODES),
            file=sys.stderr,
            flush=True,
        )
    table = _table(results)
    print(_markdown(table))
    if args.json:
        meta = {
            "command": "python -m benchmarks.bench_grounded " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": describe(),
            "checkpoint": args.checkpoint or "shipped",
            "tasks": len(tasks),
            "task_checks": {c: sum(t.check == c for t in tasks) for c in ("doctest", "test")},
            "holes": len(holes),
            "max_check_seconds": args.max_check_seconds,
            "find_seconds": round(found, 1),
            "modes": {m: dict(zip(("samples", "temperature", "top_p"), v)) for m, v in MODES.items()},
        }
        Path(args.json).write_text(json.dumps({**meta, "table": table, "holes_detail": results}, indent=1) + "\n")
        if partial is not None:
            partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
