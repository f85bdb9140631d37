"""Evaluate a checkpoint on the held-out splits: bits per character and infilling.

    python -m training.evaluate --checkpoint astgen/checkpoints/default --data data --out docs/eval.json

* bits per character of canonical source on seeded subsets of the validation and test splits
  (every action of each chosen document scored once, as in training's validation);
* `--infills` holes cut out of test-split files, an equal share of each kind (expression, statements,
  a whole function body, call arguments), filled greedily with the real decoder.  For each: does the
  filled program parse and compile, is everything outside the hole unchanged (ast.dump of both
  programs with the hole replaced by the same placeholder), is the hole exactly the original, and
  does the fill add a pyflakes name report (undefined name, local read before assignment) that the
  original file does not have.  Each hole gets the context a user's file would give it (names its fill
  may not bind or read, module names bound after it: astgen.codec.hole_scope)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import json
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from astgen.codec import SPAN_KINDS, default_codec
from astgen.codec.hole_scope import HoleContext, hole_contexts
from astgen.codec.holes import EXPR, LIST, HoledProgram, program_from_spans
from astgen.codec.markers import marker_name
from astgen.codec.module_names import module_aliases, module_attributes
from astgen.codec.source import quiet_compile
from astgen.compiled_default import default_compiled
from astgen.decoding import DecodeConfig
from astgen.features import n_state_ids, special_state_ids
from astgen.generator import Generator
from astgen.grammar.actions import END
from astgen.model import load_checkpoint, state_embedding
from astgen.validity import added_name_reports
from training.data import load_spans, load_split
from training.fim import FimConfig, sample_holes
from training.train import REFERENCE_KIND, eval_documents, evaluate
from training.tree_features import StateFeatureLM, StreamStates

__all__ = [
    "POSITION_KINDS",
    "bits_per_char",
    "infill_eval",
    "main",
    "position_kinds",
    "score_documents",
    "statement_template",
]


# what a predicted position spells: the tree's structure, a piece of a name that is read (a lookup),
# of any other name (bound, attribute, keyword, module), of a literal, a whole name as a reference
# (models with name references, astgen.codec.refs); or the `<end>` of a terminal
POSITION_KINDS = ("structure", "names read", "other names", "literals", REFERENCE_KIND, "ends")


def position_kinds(cg: Any) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Per state id, the index in POSITION_KINDS of an action chosen in that state (`<end>` aside)."""
    out = np.zeros(n_state_ids(cg), dtype=np.int64)
    term_lookup = cg.arrays["term_lookup"]
    for sym in range(cg.dfa_base, cg.n_symbols):
        term = int(cg.arrays["sym_term"][sym])
        name = cg.symbol_names[sym].split("@")[0]
        spelled_name = name.startswith(("name", "dotted")) or name == "feature"
        kind = (1 if term_lookup[term] else 2) if spelled_name else 3
        out[cg.dfa_base + term] = kind
    return out, POSITION_KINDS, END


def score_documents(
    gen: Generator, stream: Any, info: dict[str, Any], docs: list[dict[str, Any]], seq_len: int
) -> dict[str, Any]:
    """training.train.evaluate on `docs` of a split (a tree-state model is fed its states), with the
    bits per character split by POSITION_KINDS."""
    states = StreamStates(gen.compiled, stream, info)
    ids = special_state_ids(gen.compiled)
    kinds = position_kinds(gen.compiled)
    emb = state_embedding(gen.model)
    model: Any = gen.model if emb is None else StateFeatureLM(gen.model, emb.num_embeddings, emb)
    start = gen.compiled.start_symbol
    refs = gen.refs
    return evaluate(
        model, stream, docs, gen.config, seq_len, 16, gen.device, states, ids, start, kinds, emb is not None, refs
    )


def bits_per_char(gen: Generator, data: str, split: str, max_tokens: int, seq_len: int) -> dict[str, Any]:
    stream, info = load_split(data, split)
    docs = eval_documents(info, max_tokens, seed=4321)
    t0 = time.perf_counter()
    result = score_documents(gen, stream, info, docs, seq_len)
    return {
        "split": split,
        "documents": result["val_docs"],
        "actions": result["val_actions"],
        "chars": result["val_chars"],
        "bits_per_action": round(result["val_bits_per_action"], 4),
        "bits_per_char": round(result["val_bpc"], 4),
        "bits_per_char_by_position": {k: round(v, 4) for k, v in result.get("val_bpc_by", {}).items()},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _placeholder(codec: Any, kind: str, name: str = "__hole__") -> list[int]:
    """Actions of `name` as an expression, or as a statement list's one statement."""
    ids = codec.encode(f"{name}\n")  # Module <stop> <stop> Expr Name pieces... <end> <stop> <eos>
    return ids[3:-2] if kind == LIST else ids[4:-2]


def _with_context(codec: Any, program: HoledProgram, actions: list[int], hole: Any, kind: str) -> HoledProgram:
    """`program` with the context its hole has in the file (as `astgen infill` computes it for a user's
    file with a marker there); no context if the file with the marker does not decode."""
    marked = actions[: hole.start] + _placeholder(codec, kind, marker_name(0)) + actions[hole.end :]
    try:
        context = hole_contexts(ast.parse(codec.decode(marked))).get(0, HoleContext())
    except Exception:  # a file the marker makes undecodable keeps the empty context
        context = HoleContext()
    return dataclasses.replace(program, contexts=(context,))


def _dump(codec: Any, actions: list[int]) -> str | None:
    try:
        return ast.dump(codec.decode_tree(actions))
    except Exception:  # a broken program is reported as such by the caller
        return None


def _statements_of(holed: str, filled: str) -> list[str] | None:
    """The top-level statements that `filled` has where `holed` has its placeholder line, unparsed
    (None where they do not parse on their own)."""
    a, b = holed.splitlines(), filled.splitlines()
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    j = 0
    while j < min(len(a), len(b)) - i - 1 and a[-1 - j] == b[-1 - j]:
        j += 1
    try:
        return [ast.unparse(s) for s in ast.parse(textwrap.dedent("\n".join(b[i : len(b) - j]))).body]
    except SyntaxError:  # (e.g. an `else:` clause line matched as common text)
        return None


def invented_attributes(source: str) -> Counter[tuple[str, str]]:
    """The `alias.attr` reads of `source` whose module (`module_aliases`) statically lacks `attr`
    (`module_attributes`; modules whose table is unknown are not counted)."""
    tree = ast.parse(source)
    aliases = dict(module_aliases(tree))
    out: Counter[tuple[str, str]] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            table = module_attributes(aliases[node.value.id])
            if table is not None and node.attr not in table:
                out[(node.value.id, node.attr)] += 1
    return out


def statement_template(statement: str) -> str:
    """A statement's shape: its AST with every constant blanked and every list cut to its first element,
    so that `f.x('')` and `f.x('', '', '')` share one (the growing copies a fill can write)."""

    class _Shape(ast.NodeTransformer):
        def generic_visit(self, node: ast.AST) -> ast.AST:
            for name, value in ast.iter_fields(node):
                if isinstance(value, list) and len(value) > 1:
                    setattr(node, name, value[:1])
            return super().generic_visit(node)

        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            return ast.Constant(value=None)

    return ast.dump(_Shape().visit(ast.parse(statement)))


_EXAMPLES = 8  # fills kept per hole kind, with the code they replace, to read (the first ones: seeded)


def _example(examples: dict[str, list[dict[str, str]]], case: dict[str, Any], fill: str, reference: str) -> None:
    kept = examples.setdefault(case["kind"], [])
    if len(kept) < _EXAMPLES:
        kept.append({"doc": case["doc"], "fill": fill, "reference": reference})


def _hole_text(holed: str, source: str, mark: str = "__hole__") -> str | None:
    """The text `source` has where `holed` has its one placeholder name (None if the code around it
    is not written the same way, e.g. parentheses added at the hole's edge)."""
    k = holed.find(mark)
    if k < 0 or holed.find(mark, k + 1) >= 0:
        return None
    prefix, suffix = holed[:k], holed[k + len(mark) :]
    if len(source) < len(prefix) + len(suffix) or not (source.startswith(prefix) and source.endswith(suffix)):
        return None
    return source[len(prefix) : len(source) - len(suffix)]


def infill_eval(
    gen: Generator,
    data: str,
    n: int,
    seed: int,
    max_actions: int,
    no_repeat: bool = False,
    decode_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fill `n` seeded holes of the test split (n / 4 per kind); returns per-kind figures.  Statement
    holes also report fills that repeat a top-level statement (`repeated`) or its shape
    (`template_repeated`, `statement_template`), every kind the fills that used the whole budget, and
    the mean character similarity of the fill to the code it replaces (difflib's ratio: 1 = the same text)."""
    codec = gen.codec
    stream, info = load_split(data, "test")
    spans = load_spans(data, "test", info)
    docs = info["documents"]
    rng = np.random.default_rng(seed)
    cfg = FimConfig(extra_holes=0.0, max_hole=max_actions)
    cases: list[dict[str, Any]] = []
    for kind in range(len(SPAN_KINDS)):
        made = 0
        while made < n // len(SPAN_KINDS):
            doc = docs[int(rng.integers(len(docs)))]
            holes = sample_holes(doc, spans, rng, cfg, kind=kind)
            if not holes:
                continue
            off = int(doc["offset"])
            actions = stream[off : off + int(doc["length"])].astype(np.int64).tolist()
            cases.append({"kind": SPAN_KINDS[kind], "doc": doc["path"], "actions": actions, "hole": holes[0]})
            made += 1
    programs = [
        _with_context(
            codec,
            program_from_spans(c["actions"], [c["hole"]], gen.config.hole_id),
            c["actions"],
            c["hole"],
            LIST if c["kind"] in ("stmt", "body") else EXPR,
        )
        for c in cases
    ]
    options = {"temperature": 0.0, "max_actions": max_actions, "no_repeat": no_repeat, **(decode_options or {})}
    decode_cfg = DecodeConfig(**options)
    t0 = time.perf_counter()
    answers: list[list[list[int]]] = []
    bar = tqdm(total=len(programs), desc="infill", unit="hole", file=sys.stderr, mininterval=10)
    for lo in range(0, len(programs), gen.batch_size):
        answers.extend(gen.fill(programs[lo : lo + gen.batch_size], decode_cfg))
        bar.update(min(gen.batch_size, len(programs) - lo))
    bar.close()
    seconds = time.perf_counter() - t0
    per_kind: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    examples: dict[str, list[dict[str, str]]] = {}
    for case, program, ans in zip(cases, programs, answers):
        h = case["hole"]
        actions = case["actions"]
        filled = program.filled(ans)
        row = per_kind.setdefault(
            case["kind"],
            {"n": 0, "parse": 0, "compile": 0, "outside_same": 0, "exact": 0, "hole_actions": 0, "at_budget": 0}
            | {"new_name_errors": 0, "fill_name_errors": 0, "suffix_unbound": 0},
        )
        row["at_budget"] += int(len(ans[0]) >= max_actions)
        mark = _placeholder(codec, LIST if case["kind"] in ("stmt", "body") else EXPR)
        row["n"] += 1
        row["hole_actions"] += len(ans[0])
        row["reference_actions"] = row.get("reference_actions", 0) + h.end - h.start
        holed_src = filled_src = None
        try:
            holed_src = codec.decode(actions[: h.start] + mark + actions[h.end :])
            source = filled_src = codec.decode(filled)
            ast.parse(source)
            row["parse"] += 1
            quiet_compile(source, case["doc"])
            row["compile"] += 1
            holed = codec.decode(actions[: h.start] + mark + actions[h.end :])
            row["invented_attributes"] = row.get("invented_attributes", 0) + int(
                bool(invented_attributes(source) - invented_attributes(holed))
            )
            in_fill, suffix = added_name_reports(source, codec.decode(actions), holed)
            if in_fill or suffix:
                row["new_name_errors"] += 1
                row["fill_name_errors"] += int(bool(in_fill))
                row["suffix_unbound"] += int(bool(suffix))
                added = sorted((in_fill + suffix).elements())
                where = "fill" if in_fill else "suffix"  # an undefined read in the fill, or a suffix read left unbound
                failures.append(
                    {"doc": case["doc"], "kind": case["kind"], "where": where, "error": f"pyflakes: {added}"}
                )
        except Exception as e:  # any failure to decode, parse or compile is reported the same way
            failures.append({"doc": case["doc"], "kind": case["kind"], "error": f"{type(e).__name__}: {e}"[:300]})
        original = _dump(codec, actions[: h.start] + mark + actions[h.end :])
        mine = _dump(codec, program.filled([mark]))
        row["outside_same"] += int(original is not None and original == mine)
        row["exact"] += int(ans[0] == actions[h.start : h.end])
        if case["kind"] in ("stmt", "body") and holed_src is not None and filled_src is not None:
            mine_s = _statements_of(holed_src, filled_src)
            ref_s = _statements_of(holed_src, codec.decode(actions))
            if mine_s is not None and ref_s is not None:
                row["repeated"] = row.get("repeated", 0) + int(len(set(mine_s)) < len(mine_s))
                shapes = [statement_template(x) for x in mine_s]
                row["template_repeated"] = row.get("template_repeated", 0) + int(len(set(shapes)) < len(shapes))
                shapes = [statement_template(x) for x in ref_s]  # how often the code itself repeats a shape
                row["reference_template_repeated"] = row.get("reference_template_repeated", 0) + int(
                    len(set(shapes)) < len(shapes)
                )
                sim = difflib.SequenceMatcher(None, "\n".join(mine_s), "\n".join(ref_s)).ratio()
                row["similarity_sum"] = row.get("similarity_sum", 0.0) + sim
                _example(examples, case, "\n".join(mine_s), "\n".join(ref_s))
        elif holed_src is not None and filled_src is not None:  # an expression: its text against the original's
            mine_t, ref_t = _hole_text(holed_src, filled_src), _hole_text(holed_src, codec.decode(actions))
            if mine_t is not None and ref_t is not None:
                sim = difflib.SequenceMatcher(None, mine_t, ref_t).ratio()
                row["similarity_sum"] = row.get("similarity_sum", 0.0) + sim
                row["similarity_n"] = row.get("similarity_n", 0) + 1
                _example(examples, case, mine_t, ref_t)
    for row in per_kind.values():
        row["exact_rate"] = round(row["exact"] / row["n"], 4)
        row["mean_hole_actions"] = round(row["hole_actions"] / row["n"], 1)
        row["mean_reference_actions"] = round(row.pop("reference_actions") / row["n"], 1)
        if "similarity_sum" in row:
            row["mean_similarity"] = round(row.pop("similarity_sum") / row.get("similarity_n", row["n"]), 4)
    keys = (
        *("n", "parse", "compile", "outside_same", "exact", "at_budget"),
        *("new_name_errors", "fill_name_errors", "suffix_unbound"),
    )
    total = {k: sum(r[k] for r in per_kind.values()) for k in keys}
    return {
        "holes": total,
        "per_kind": per_kind,
        "failures": failures[:20],
        "examples": examples,
        "seconds": round(seconds, 1),
        "seed": seed,
        "max_actions": max_actions,
        "retries_note": "no resampling here: each hole is decoded once, greedily",
    }


def _decode_options(pairs: list[str]) -> dict[str, Any]:
    """`FIELD=VALUE` pairs as DecodeConfig keyword arguments, each value parsed as its field's type."""
    fields = {f.name: f for f in dataclasses.fields(DecodeConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--decode {pair!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}")
        kind = type(fields[name].default)
        out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=Path("astgen/checkpoints/default"))
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", type=Path, default=Path("docs/eval.json"))
    ap.add_argument("--bpc-tokens", type=int, default=200_000, help="actions scored per split (0: skip)")
    ap.add_argument("--infills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-actions", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-repeat", action="store_true", help="decode with DecodeConfig(no_repeat=True)")
    ap.add_argument(
        "--decode", action="append", default=[], metavar="FIELD=VALUE", help="another DecodeConfig field (repeatable)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    compiled = default_compiled()
    model, config = load_checkpoint(args.checkpoint, compiled)
    gen = Generator(model, config, compiled, default_codec(), batch_size=args.batch_size)
    report: dict[str, Any] = {"checkpoint": str(args.checkpoint), "threads": args.threads}
    info = json.loads((args.checkpoint / "astgen.json").read_text(encoding="utf-8"))
    report["training"] = {k: info.get("training", {}).get(k) for k in ("step", "actions_seen", "train_seconds")}
    if args.bpc_tokens > 0:
        report["bits_per_char"] = [
            bits_per_char(gen, args.data, split, args.bpc_tokens, 512) for split in ("validation", "test")
        ]
        print(json.dumps(report["bits_per_char"], indent=1))
    if args.infills > 0:
        options = _decode_options(args.decode)
        report["infill"] = infill_eval(
            gen, args.data, args.infills, args.seed, args.max_actions, args.no_repeat, options
        )
        report["infill"]["decode_options"] = options
        report["infill"]["decode_stats"] = {
            "actions": gen.stats.actions,
            "forced": gen.stats.forced,
            "model_calls": gen.stats.model_calls,
            "seconds": round(gen.stats.seconds, 1),
            "references": gen.stats.references,
            "references_refused": gen.stats.references_refused,
        }
        print(json.dumps({k: v for k, v in report["infill"].items() if k not in ("failures", "examples")}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
