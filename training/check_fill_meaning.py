"""Do fills keep the meaning of the code around them?  Seeded statement and body infills on the test
split of the standard library, checked from outside the decoder:

* every function enclosing a hole keeps its kind (plain, generator, coroutine, async generator), by `ast`;
* the filled module has no pyflakes "local variable ... referenced before assignment" report that the
  original lacks (a fill that binds a name the code around it reads from outside).

    python -m training.check_fill_meaning --cases 1000 --seed 0 [--no-rules] [--out docs/fill_meaning.json]

`--no-rules` decodes the same cases with the hole-scope rules off (`astgen.codec.hole_scope`), to
show what they prevent.  Needs pyflakes (the `train` extra)."""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from astgen.codec.hole_scope import generator_holes
from astgen.codec.holes import holed_program
from astgen.corpus import stdlib_files
from astgen.decoding import DecodeConfig
from astgen.generator import Generator, load
from astgen.research.cases import InfillCase, sample_cases
from training.data import dedupe, split_files

__all__ = ["function_kinds", "main", "undefined_locals"]

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _kind(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    stack = list(ast.iter_child_nodes(fn))
    yields = False
    while stack and not yields:
        node = stack.pop()
        yields = isinstance(node, (ast.Yield, ast.YieldFrom))
        if not isinstance(node, (*_FUNCS, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))
    if isinstance(fn, ast.AsyncFunctionDef):
        return "async generator" if yields else "coroutine"
    return "generator" if yields else "plain"


def function_kinds(tree: ast.Module) -> dict[tuple[str, int], str]:
    """The kind of every function, by (name, def line)."""
    return {(n.name, n.lineno): _kind(n) for n in ast.walk(tree) if isinstance(n, _FUNCS)}


def _enclosing(tree: ast.Module, marker: str) -> list[tuple[str, int]]:
    """(name, def line) of the functions around the marker, outermost first."""
    chain: list[tuple[str, int]] = []

    def walk(node: ast.AST, around: list[tuple[str, int]]) -> bool:
        if isinstance(node, ast.Name) and node.id == marker:
            chain.extend(around)
            return True
        inner = [*around, (node.name, node.lineno)] if isinstance(node, _FUNCS) else around
        return any(walk(child, inner) for child in ast.iter_child_nodes(node))

    walk(tree, [])
    return chain


def undefined_locals(source: str) -> Counter[str]:
    """pyflakes' "referenced before assignment" reports of a module, by name."""
    from pyflakes import checker, messages

    tree = ast.parse(source)
    found = checker.Checker(tree, filename="<fill>").messages
    return Counter(str(m.message_args[0]) for m in found if isinstance(m, messages.UndefinedLocal))


def _cases(n: int, seed: int) -> list[InfillCase]:
    test = split_files(dedupe(stdlib_files()))["test"]
    docs = []
    for f in test:
        try:
            docs.append((str(f.path), ast.unparse(ast.parse(f.path.read_bytes()))))
        except (SyntaxError, ValueError, RecursionError):
            continue
    half = n // 2
    return sample_cases(docs, half, seed, kinds=("stmt",)) + sample_cases(docs, n - half, seed + 1, kinds=("body",))


def check(gen: Generator, cases: list[InfillCase], cfg: DecodeConfig, rules: bool) -> dict[str, Any]:
    """Fill every case (batched) and count the fills that change their functions' kinds or add
    undefined-local reports."""
    import astgen.codec.holes as holes_module

    saved = holes_module.hole_contexts
    if not rules:
        holes_module.hole_contexts = lambda module, generators=(): {}  # type: ignore[assignment]
    try:
        programs = []
        for case in cases:
            marked_tree = ast.parse(case.marked)
            generators = generator_holes(ast.parse(case.original), marked_tree)
            programs.append(
                holed_program(
                    gen.codec, case.marked, gen.config.hole_id, case.path, markers=True, generators=generators
                )
            )
    finally:
        holes_module.hole_contexts = saved
    t0 = time.perf_counter()
    answers = gen.fill(programs, cfg)
    seconds = time.perf_counter() - t0
    kind_changes: Counter[str] = Counter()
    new_undefined = examples = 0
    shown: list[dict[str, str]] = []
    for case, program, ans in zip(cases, programs, answers):
        filled = ast.unparse(gen.codec.decode_tree(program.filled(ans)))
        before, after = function_kinds(ast.parse(case.original)), function_kinds(ast.parse(filled))
        changed = [
            f"{before[key]} -> {after.get(key, 'gone')}"
            for key in _enclosing(ast.parse(case.marked), "__astgen_hole_0__")
            if before.get(key) != after.get(key)
        ]
        kind_changes.update(changed)
        added = undefined_locals(filled) - undefined_locals(case.original)
        new_undefined += bool(added)
        if (changed or added) and examples < 5:
            examples += 1
            shown.append({"path": case.path, "changed": "; ".join(changed), "undefined_local": ", ".join(added)})
    return {
        "rules": rules,
        "cases": len(cases),
        "kind_changes": sum(kind_changes.values()),
        "kind_changes_by_kind": dict(kind_changes),
        "fills_adding_undefined_locals": new_undefined,
        "decode_seconds": round(seconds, 1),
        "examples": shown,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-actions", type=int, default=64)
    ap.add_argument("--no-rules", action="store_true", help="decode with the hole-scope rules off")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    cases = _cases(args.cases, args.seed)
    gen = load()
    cfg = DecodeConfig(temperature=args.temperature, seed=args.seed, max_actions=args.max_actions)
    result = check(gen, cases, cfg, rules=not args.no_rules)
    result["command"] = "python -m training.check_fill_meaning " + " ".join(sys.argv[1:] if argv is None else argv)
    result["config"] = {"temperature": args.temperature, "seed": args.seed, "max_actions": args.max_actions}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
