"""Per-step cost of grammar masking: astgen's batched Matcher vs llguidance and XGrammar.

astgen (torch, batched, any device)
  One step = `fill_mask(logits)` (compute the [B, A] allowed-action mask, including tree-depth,
  block-nesting and symbol-set checks, and write -inf into the logits) + `advance(actions)`.
  Two workloads:
    replay  teacher-force the action sequences of real stdlib files, one file per batch row (rows
            whose file has ended are padded with `<eos>`).  The first `--skip` actions of every row
            are applied with `advance` alone (untimed) so the timed steps see states deep inside the
            files, not only module docstrings and imports.  MatcherConfig(strict=False) (real code
            uses @lenient constructors such as `global`, which strict sampling excludes), no length
            budget, default depth budgets (tree 48, blocks 16), stack capacity 512.
    sample  uniform sampling from the mask (Gumbel-max on random logits), the configuration of
            `astgen.sampling.sample_uniform` (length budget, max_terminal_pieces=4, stack 256);
            finished rows are padded with `<eos>`.
  "sample" in the table is the Gumbel-max draw over the whole vocabulary ([B, V] uniform noise,
  -log(-log u), argmax); it is timed in every workload for context and is not part of "total".

llguidance / XGrammar (per-sequence matchers on the CPU)
  Neither can express Python's indentation or its context rules, so both get the same Lark grammar
  written below (`LARK_LADDER`): a sequence of Python *simple* statements, one per line
  (assignments, augmented/annotated assignments, expression statements, return/raise/del/assert/
  global/nonlocal/import/from-import/pass/break/continue) over the full expression syntax with
  Python's precedence ladder (lambda, conditional expressions, comprehensions, calls, subscripts
  and slices, starred items, dict/set displays, walrus, await, yield), NAME/NUMBER/STRING
  terminals (strings single-line, with optional prefixes, f-strings opaque) and spaces ignored.
  `--grammar flat` uses a looser variant whose binary/unary operators are one flat chain.
  Tokenizer: a byte-level BPE with as many tokens as astgen has actions (2874), trained here with
  `tokenizers` on stdlib source.  Token rows: simple statements taken from stdlib files
  (`ast.unparse` of every simple statement on one line), kept only if every engine accepts them,
  shuffled per row and joined with newlines.  One step for a batch of B = for every row: compute the
  next-token bitmask (llguidance: `fill_next_token_bitmask` of `llguidance.torch`; XGrammar:
  `GrammarMatcher.fill_next_token_bitmask`) then apply all B bitmasks to the [B, V] logits in one
  torch op ("mask"), then for every row consume the teacher token (`LLMatcher.consume_token` /
  `GrammarMatcher.accept_token`) ("advance").  With `--par`, the engines' own batch APIs
  (llguidance `LLExecutor` / XGrammar `BatchGrammarMatcher`, both threaded) are measured as well.
  The slowest configurations stop after `--budget` seconds (at least 10 timed steps); the table
  says how many steps each row measured.

Run (the default takes about 1.5-2 minutes on 2 CPU cores):

    .venv/bin/python -m benchmarks.bench_matcher [--steps 300] [--batches 1,8,64] [--device cpu|cuda|all]
        [--engines astgen,llguidance,xgrammar] [--out results.md] [--profile]

XGrammar 0.2.x imports `tvm_ffi` and `transformers` at import time; if it cannot be imported the
script says why and goes on without it.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "2")  # tokenizers' / llguidance's thread pools

import argparse
import ast
import glob
import platform
import random
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from astgen.codec import default_codec
from astgen.compiled_default import default_compiled
from astgen.grammar.actions import EOS
from astgen.matcher import Matcher, MatcherConfig
from training.bpe import train_byte_bpe
from training.machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent

STDLIB = sysconfig.get_paths()["stdlib"]

# ---------------------------------------------------------------------------------------- grammar
# A line-oriented subset of Python: simple statements only (no indentation, no blocks), with the
# whole expression grammar and its precedence.  Written for this benchmark; every name in UPPER
# case is a lexeme (llguidance lexes them; XGrammar inlines them as character-level rules).
LARK_LADDER = r"""
start: stmt_line (NL stmt_line)* NL?
stmt_line: small_stmt (";" small_stmt)*
small_stmt: expr_stmt | assign_stmt | aug_stmt | ann_stmt | return_stmt | raise_stmt
          | import_stmt | from_stmt | del_stmt | assert_stmt | scope_stmt
          | "pass" | "break" | "continue"
expr_stmt: star_exprs | yield_expr
assign_stmt: (star_exprs "=")+ (star_exprs | yield_expr)
aug_stmt: star_exprs AUGOP (star_exprs | yield_expr)
ann_stmt: test ":" test ("=" (star_exprs | yield_expr))?
return_stmt: "return" star_exprs?
raise_stmt: "raise" (test ("from" test)?)?
del_stmt: "del" exprlist
assert_stmt: "assert" test ("," test)?
scope_stmt: ("global" | "nonlocal") NAME ("," NAME)*
import_stmt: "import" dotted_as ("," dotted_as)*
dotted_as: dotted ("as" NAME)?
dotted: NAME ("." NAME)*
from_stmt: "from" (rel_dots dotted? | dotted) "import" ("*" | "(" import_as_list ","? ")" | import_as_list)
rel_dots: ("." | "...")+
import_as_list: import_as ("," import_as)*
import_as: NAME ("as" NAME)?
yield_expr: "yield" ("from" test | star_exprs)?
star_exprs: star_expr ("," star_expr)* ","?
star_expr: test | "*" bitor
exprlist: bitor ("," bitor)* ","?
test: or_test ("if" or_test "else" test)? | lambdef | NAME ":=" test
lambdef: "lambda" params? ":" test
params: param ("," param)*
param: NAME ("=" test)? | "*" NAME? | "**" NAME | "/"
@@OPERATORS@@
primary: atom trailer*
trailer: "(" arglist? ")" | "[" subscripts "]" | "." NAME
arglist: argument ("," argument)* ","?
argument: test comp_for? | NAME "=" test | "*" test | "**" test
subscripts: subscript ("," subscript)* ","?
subscript: test | star_expr | test? ":" test? (":" test?)?
atom: NAME | NUMBER | STRING+ | "None" | "True" | "False" | "..."
    | "(" (yield_expr | comp_body)? ")"
    | "[" comp_body? "]"
    | "{" dict_body? "}"
comp_body: star_expr (comp_for | ("," star_expr)* ","?)
dict_body: dict_item (comp_for | ("," dict_item)* ","?) | star_expr (comp_for | ("," star_expr)* ","?)
dict_item: test ":" test | "**" bitor
comp_for: "async"? "for" exprlist "in" or_test (comp_for | comp_if)?
comp_if: "if" or_test (comp_for | comp_if)?
AUGOP: "+=" | "-=" | "*=" | "/=" | "//=" | "%=" | "@=" | "&=" | "|=" | "^=" | ">>=" | "<<=" | "**="
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9][0-9_]*)([eE][+-]?[0-9]+)?[jJ]?/
STRING: /[rRbBuUfF]{0,2}('([^'\\\n]|\\.)*'|"([^"\\\n]|\\.)*")/
NL: "\n"
%ignore " "
"""

OPS_LADDER = r"""
or_test: and_test ("or" and_test)*
and_test: not_test ("and" not_test)*
not_test: "not" not_test | comparison
comparison: bitor (comp_op bitor)*
comp_op: "<" | ">" | "==" | ">=" | "<=" | "!=" | "in" | "not" "in" | "is" | "is" "not"
bitor: bitxor ("|" bitxor)*
bitxor: bitand ("^" bitand)*
bitand: shift ("&" shift)*
shift: arith (("<<" | ">>") arith)*
arith: term (("+" | "-") term)*
term: factor (("*" | "/" | "//" | "%" | "@") factor)*
factor: ("+" | "-" | "~") factor | power
power: "await"? primary ("**" factor)?
"""

# Same strings for well-formed input, but accepts e.g. `a + not b`: one flat operator chain.
OPS_FLAT = r"""
or_test: bitor (BINOP bitor)*
bitor: UNOP* power
factor: bitor
power: "await"? primary ("**" factor)?
BINOP: "or" | "and" | "<" | ">" | "==" | ">=" | "<=" | "!=" | "in" | "not in" | "is" | "is not"
     | "|" | "^" | "&" | "<<" | ">>" | "+" | "-" | "*" | "/" | "//" | "%" | "@"
UNOP: "not" | "+" | "-" | "~"
"""


def lark_grammar(kind: str) -> str:
    return LARK_LADDER.replace("@@OPERATORS@@", OPS_LADDER if kind == "ladder" else OPS_FLAT)


SIMPLE_STMTS = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Return,
    ast.Raise,
    ast.Import,
    ast.ImportFrom,
    ast.Delete,
    ast.Assert,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
    ast.Break,
    ast.Continue,
)


# ---------------------------------------------------------------------------------------- timing
@dataclass
class Result:
    engine: str
    workload: str
    device: str
    batch: int
    phases: dict[str, list[float]] = field(default_factory=dict)  # microseconds per step
    note: str = ""

    @property
    def steps(self) -> int:
        return len(self.phases["total"])

    def stat(self, phase: str, q: float) -> float:
        return float(np.percentile(np.asarray(self.phases[phase]), q))


def _sync_fn(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def gumbel_sample(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """argmax(logits + Gumbel noise): one categorical draw per row."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device)
    return (logits - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(1)


# ---------------------------------------------------------------------------------------- astgen
def replay_rows(n: int, min_len: int) -> tuple[list[list[int]], list[str]]:
    """Action sequences of `n` stdlib files (json/encoder.py first, then sorted stdlib modules of
    8-60 kB that encode), each at least `min_len` actions where possible."""
    codec = default_codec()
    preferred = ["json/encoder.py", "json/decoder.py", "textwrap.py", "argparse.py", "dataclasses.py"]
    others = sorted(os.path.relpath(p, STDLIB) for p in glob.glob(os.path.join(STDLIB, "*.py")))
    rows: list[list[int]] = []
    names: list[str] = []
    for rel in preferred + [o for o in others if o not in preferred]:
        if len(rows) >= n:
            break
        path = os.path.join(STDLIB, rel)
        size = os.path.getsize(path)
        if rel not in preferred and not (8_000 <= size <= 60_000):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                ids = codec.encode(f.read(), rel)
        except Exception:  # unsupported constructs, encoding problems: skip the file
            continue
        if len(ids) < min_len and rel not in preferred:
            continue
        rows.append(ids)
        names.append(rel)
    return rows, names


def bench_astgen(
    workload: str,
    device: torch.device,
    batch: int,
    steps: int,
    warmup: int,
    skip: int,
    rows: list[list[int]],
    seed: int,
    host_rows: int = MatcherConfig.host_rows,
) -> Result:
    cg = default_compiled()
    n_act = cg.n_actions
    sync = _sync_fn(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    total_steps = warmup + steps
    if workload == "replay":
        cfg = MatcherConfig(strict=False, host_rows=host_rows)
        length = skip + total_steps
        acts = torch.full((length, batch), EOS, dtype=torch.long)
        for r in range(batch):
            seq = rows[r % len(rows)][:length]
            acts[: len(seq), r] = torch.tensor(seq, dtype=torch.long)
        acts = acts.to(device)
    else:
        cfg = MatcherConfig(
            strict=True, max_actions=total_steps + 64, max_terminal_pieces=4, stack_capacity=256, host_rows=host_rows
        )
        acts = None
    m = Matcher(cg, batch, device, cfg)
    if acts is not None:
        for s in range(skip):  # fast-forward into the files (untimed)
            m.advance(acts[s])
    base = torch.randn(batch, n_act, generator=gen, device=device)  # stand-in for model logits
    logits = torch.empty_like(base)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    eos = torch.full((batch,), EOS, dtype=torch.long, device=device)
    engine = "astgen (batched ops)" if host_rows == 0 else "astgen"
    res = Result(engine, workload, str(device), batch, {k: [] for k in ("mask", "advance", "total", "sample")})
    violations = torch.zeros((), dtype=torch.long, device=device)
    for step in range(total_steps):
        logits.copy_(base)
        sync()
        t0 = time.perf_counter_ns()
        m.fill_mask(logits)
        sync()
        t1 = time.perf_counter_ns()
        sampled = gumbel_sample(logits, gen)
        sync()
        t2 = time.perf_counter_ns()
        if acts is not None:
            a = acts[skip + step]
            violations += torch.isinf(logits.gather(1, a.unsqueeze(1))).sum()  # teacher action masked?
        else:
            a = torch.where(finished, eos, sampled)
            finished |= a == EOS
        sync()
        t3 = time.perf_counter_ns()
        m.advance(a)
        sync()
        t4 = time.perf_counter_ns()
        if step >= warmup:
            res.phases["mask"].append((t1 - t0) / 1e3)
            res.phases["sample"].append((t2 - t1) / 1e3)
            res.phases["advance"].append((t4 - t3) / 1e3)
            res.phases["total"].append((t1 - t0 + t4 - t3) / 1e3)
    if bool(m.error.any()):
        raise RuntimeError(
            f"astgen {workload} B={batch}: matcher error flag set in rows {m.error.nonzero().flatten().tolist()[:10]}"
        )
    if acts is not None and int(violations) != 0:  # a matcher bug or a budget: report, keep timing
        res.note = f"{int(violations)} teacher actions masked out"
        print(f"warning: astgen replay B={batch}: {res.note}", file=sys.stderr)
    if acts is None:
        res.note = f"{int(finished.sum())}/{batch} rows finished"
    return res


def profile_astgen(device: torch.device, batch: int, rows: list[list[int]], skip: int, steps: int = 50) -> str:
    """torch.profiler table of the replay loop (fill_mask + advance) at one batch size."""
    from torch.profiler import ProfilerActivity, profile, record_function

    cg = default_compiled()
    acts = torch.full((skip + steps, batch), EOS, dtype=torch.long)
    for r in range(batch):
        seq = rows[r % len(rows)][: skip + steps]
        acts[: len(seq), r] = torch.tensor(seq, dtype=torch.long)
    acts = acts.to(device)
    m = Matcher(cg, batch, device, MatcherConfig(strict=False))
    for s in range(skip):
        m.advance(acts[s])
    logits = torch.randn(batch, cg.n_actions, device=device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for s in range(skip, skip + steps):
            with record_function("fill_mask"):
                m.fill_mask(logits)
            with record_function("advance"):
                m.advance(acts[s])
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=25)


# ---------------------------------------------------------------------------------------- others
def train_bpe(vocab_size: int):
    """Byte-level BPE with `vocab_size` tokens (one of them `<|eos|>`) trained on stdlib source."""
    files = sorted(glob.glob(os.path.join(STDLIB, "*.py")))[:120]

    def texts():
        for f in files:
            with open(f, encoding="utf-8", errors="replace") as fh:
                yield fh.read()

    return train_byte_bpe(texts(), vocab_size, ["<|eos|>"])


def candidate_statements(limit_files: int = 30) -> list[str]:
    """One-line simple statements (`ast.unparse`) from stdlib modules, deduplicated, in file order."""
    out: list[str] = []
    seen: set[str] = set()
    for path in sorted(glob.glob(os.path.join(STDLIB, "*.py")))[:limit_files]:
        try:
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, SIMPLE_STMTS):
                text = ast.unparse(node)
                if "\n" in text or len(text) > 160 or text in seen:
                    continue
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                    continue  # docstrings
                seen.add(text)
                out.append(text)
    return out


class Engine:
    """A per-sequence matcher library behind one small interface."""

    name = ""
    version = "?"
    vocab_size = 0

    def new(self) -> Any:  # a fresh matcher at the start of the grammar
        raise NotImplementedError

    def fill(self, matcher, bitmask: torch.Tensor, row: int) -> None:
        raise NotImplementedError

    def accept(self, matcher, token: int) -> bool:
        raise NotImplementedError

    def accepts(self, ids: list[int]) -> bool:
        """Whether a matcher at the start of the grammar consumes all of `ids` (no masks computed)."""
        m = self.__dict__.get("_probe")
        if m is None:
            m = self._probe = self.new()
        m.reset()
        ok = all(self.accept(m, t) for t in ids)
        if not ok:  # a matcher that rejected a token may stay in its error state: start afresh
            del self.__dict__["_probe"]
        return ok

    # batch API (threaded)
    def par_fill(self, matchers: list, bitmask: torch.Tensor) -> None:
        raise NotImplementedError

    def par_accept(self, matchers: list, tokens: list[int]) -> list[bool]:
        raise NotImplementedError


class LLGuidanceEngine(Engine):
    name = "llguidance"

    def __init__(self, tok, grammar: str):
        import llguidance as llg
        import llguidance.torch as llt

        self.llg, self.llt = llg, llt
        self.tokenizer = llg.LLTokenizer(tok.to_str(), eos_token=tok.token_to_id("<|eos|>"))
        self.grammar = llg.LLMatcher.grammar_from_lark(grammar)
        is_err, msgs = llg.LLMatcher.validate_grammar_with_warnings(self.grammar, self.tokenizer)
        if is_err:
            raise RuntimeError(f"llguidance rejected the grammar: {msgs}")
        self.version = getattr(llg, "__version__", None) or _dist_version("llguidance")
        self.vocab_size = self.tokenizer.vocab_size
        self.executor = llg.LLExecutor(num_threads=max(1, min(2, os.cpu_count() or 1)))

    def par_fill(self, matchers, bitmask):
        self.llt.fill_next_token_bitmask_par(self.executor, [(m, i) for i, m in enumerate(matchers)], bitmask)

    def par_accept(self, matchers, tokens):
        return self.llt.consume_token_par(self.executor, list(zip(matchers, tokens)))

    def new(self):
        m = self.llg.LLMatcher(self.tokenizer, self.grammar, log_level=1)
        if m.is_error():
            raise RuntimeError(f"llguidance: {m.get_error()}")
        return m

    def fill(self, matcher, bitmask, row):
        self.llt.fill_next_token_bitmask(matcher, bitmask, row)

    def accept(self, matcher, token):
        return matcher.consume_token(token)


class XGrammarEngine(Engine):
    name = "xgrammar"

    def __init__(self, tok, grammar: str):
        import xgrammar as xgr

        self.xgr = xgr
        vocab = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
        info = xgr.TokenizerInfo(
            vocab, xgr.VocabType.BYTE_LEVEL, vocab_size=len(vocab), stop_token_ids=[tok.token_to_id("<|eos|>")]
        )
        self.compiled = xgr.GrammarCompiler(info, max_threads=1).compile_lark(grammar)
        self.version = getattr(xgr, "__version__", None) or _dist_version("xgrammar")
        self.vocab_size = info.vocab_size
        self.batcher = xgr.BatchGrammarMatcher(max_threads=max(1, min(2, os.cpu_count() or 1)))

    def par_fill(self, matchers, bitmask):
        self.batcher.batch_fill_next_token_bitmask(matchers, bitmask)

    def par_accept(self, matchers, tokens):
        return self.xgr.BatchGrammarMatcher.batch_accept_token(matchers, tokens)

    def new(self):
        return self.xgr.GrammarMatcher(self.compiled)

    def fill(self, matcher, bitmask, row):
        matcher.fill_next_token_bitmask(bitmask, row)

    def accept(self, matcher, token):
        return matcher.accept_token(token)


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:
        return "?"


def load_engines(names: list[str], tok, grammar: str) -> tuple[list[Engine], dict[str, str]]:
    engines: list[Engine] = []
    failures: dict[str, str] = {}
    for name in names:
        cls = {"llguidance": LLGuidanceEngine, "xgrammar": XGrammarEngine}[name]
        try:
            engines.append(cls(tok, grammar))
        except Exception as e:  # import errors (missing dependencies), grammar errors
            failures[name] = f"{type(e).__name__}: {e}"
    return engines, failures


def token_rows(tok, engines: list[Engine], n_rows: int, length: int, seed: int) -> tuple[list[list[int]], dict]:
    """`n_rows` token sequences of >= `length` tokens: accepted statements, shuffled per row, one per line."""
    nl = tok.encode("\n").ids
    pool: list[list[int]] = []
    rejected = 0
    for text in candidate_statements():
        ids = tok.encode(text).ids
        if all(e.accepts(ids + nl) for e in engines):
            pool.append(ids)
        else:
            rejected += 1
        if len(pool) >= 1500:
            break
    if not pool:
        raise RuntimeError("no statement was accepted by every engine")
    rows = []
    for r in range(n_rows):
        rng = random.Random(seed + r)
        order = list(range(len(pool)))
        rng.shuffle(order)
        row: list[int] = []
        for i in order:
            row += pool[i] + nl
            if len(row) >= length:
                break
        rows.append(row)
    info = {
        "statements": len(pool),
        "rejected": rejected,
        "mean_tokens_per_statement": float(np.mean([len(p) for p in pool])),
    }
    return rows, info


def unpack_apply(logits: torch.Tensor, bitmask: torch.Tensor) -> None:
    """-inf where the int32 bitmask (bit i of word j = token 32j+i) is 0, in place."""
    shifts = torch.arange(32, dtype=torch.int32)
    bits = (bitmask.unsqueeze(-1) >> shifts) & 1
    allowed = bits.reshape(bitmask.shape[0], -1)[:, : logits.shape[1]].bool()
    logits.masked_fill_(~allowed, float("-inf"))


def bench_engine(
    engine: Engine, batch: int, rows: list[list[int]], steps: int, warmup: int, budget_s: float, seed: int, par: bool
) -> Result:
    matchers = [engine.new() for _ in range(batch)]
    for m, row in zip(matchers, rows):  # an untimed pass over the rows' first tokens warms lazy caches
        for t in row[:warmup]:
            engine.accept(m, t)
        m.reset()
    tok_len = min(len(r) for r in rows[:batch])
    vocab = engine.vocab_size
    words = (vocab + 31) // 32
    bitmask = torch.full((batch, words), -1, dtype=torch.int32)
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(batch, vocab, generator=gen)
    logits = torch.empty_like(base)
    res = Result(
        engine.name + (" (batch API)" if par else ""),
        "statements",
        "cpu",
        batch,
        {k: [] for k in ("mask", "advance", "total", "sample")},
    )
    violations = 0
    start = time.perf_counter()
    for step in range(min(warmup + steps, tok_len)):
        toks = [rows[i][step] for i in range(batch)]
        logits.copy_(base)
        t0 = time.perf_counter_ns()
        if par:
            engine.par_fill(matchers, bitmask)
        else:
            for i, m in enumerate(matchers):
                engine.fill(m, bitmask, i)
        unpack_apply(logits, bitmask)
        t1 = time.perf_counter_ns()
        gumbel_sample(logits, gen)
        t2 = time.perf_counter_ns()
        violations += sum(1 for i, t in enumerate(toks) if not (int(bitmask[i, t // 32]) >> (t % 32)) & 1)
        t3 = time.perf_counter_ns()
        if par:
            oks = engine.par_accept(matchers, toks)
        else:
            oks = [engine.accept(m, t) for m, t in zip(matchers, toks)]
        t4 = time.perf_counter_ns()
        if not all(oks):
            bad = [i for i, ok in enumerate(oks) if not ok]
            raise RuntimeError(f"{engine.name} B={batch}: token rejected at step {step} in rows {bad[:5]}")
        if step >= warmup:
            res.phases["mask"].append((t1 - t0) / 1e3)
            res.phases["sample"].append((t2 - t1) / 1e3)
            res.phases["advance"].append((t4 - t3) / 1e3)
            res.phases["total"].append((t1 - t0 + t4 - t3) / 1e3)
            if step - warmup + 1 >= 10 and time.perf_counter() - start > budget_s:
                res.note = f"stopped after {budget_s:.0f} s budget"
                break
    if violations:
        raise RuntimeError(f"{engine.name} B={batch}: {violations} teacher tokens missing from the bitmask")
    return res


# ---------------------------------------------------------------------------------------- report
def machine_lines(threads: int) -> list[str]:
    cpu = cpu_name()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "astgen"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    lines = [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; torch intra-op threads: {threads}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}",
        f"- load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- astgen: git {commit}" + (" + uncommitted changes under astgen/" if dirty else ""),
    ]
    if torch.cuda.is_available():
        lines.append(f"- CUDA: {torch.cuda.get_device_name(0)} (torch CUDA {torch.version.cuda})")
    else:
        lines.append("- CUDA: not available (torch.cuda.is_available() is False)")
    return lines


def table(results: list[Result]) -> str:
    head = (
        "| engine | workload | device | B | steps | mask p50 / p90 | advance p50 / p90 | total p50 / p90 "
        "| total per row p50 | sample p50 | note |"
    )
    sep = "|" + "---|" * 11
    out = [head, sep]

    def pp(r: Result, ph: str) -> str:
        return f"{r.stat(ph, 50):,.0f} / {r.stat(ph, 90):,.0f}"

    for r in results:
        out.append(
            f"| {r.engine} | {r.workload} | {r.device} | {r.batch} | {r.steps} | {pp(r, 'mask')} | "
            f"{pp(r, 'advance')} | {pp(r, 'total')} | {r.stat('total', 50) / r.batch:,.1f} | "
            f"{r.stat('sample', 50):,.0f} | {r.note} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=30, help="untimed steps before timing")
    ap.add_argument("--skip", type=int, default=400, help="replay: actions applied untimed before warm-up")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--engines", default="astgen,llguidance,xgrammar")
    ap.add_argument("--workloads", default="replay,sample", help="astgen workloads")
    ap.add_argument("--grammar", choices=["ladder", "flat"], default="ladder", help="Lark grammar for the others")
    ap.add_argument("--budget", type=float, default=12.0, help="seconds per llguidance/xgrammar configuration")
    ap.add_argument(
        "--par",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the engines' threaded batch APIs (B > 1)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--compare-batched", action="store_true", help="also astgen with MatcherConfig(host_rows=0): batched ops only"
    )
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of astgen at the largest B")
    ap.add_argument("--out", help="also write the markdown report to this file")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    engines_wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    devices: list[torch.device] = []
    notes: list[str] = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
        else:
            notes.append("CUDA was not available (torch.cuda.is_available() is False): no CUDA rows.")
            print("CUDA not available: skipping the CUDA runs", file=sys.stderr)

    report = ["```", "$ " + " ".join([Path(sys.executable).name, *sys.argv]), "```", "", *machine_lines(args.threads)]
    results: list[Result] = []
    t_start = time.perf_counter()

    if "astgen" in engines_wanted:
        t0 = time.perf_counter()
        cg = default_compiled()
        rows, names = replay_rows(max(batches), args.skip + args.warmup + args.steps)
        lens = [len(r) for r in rows]
        notes.append(
            f"astgen: {cg.n_actions} actions; replay rows = {len(rows)} stdlib files "
            f"({names[0]}, {names[1] if len(names) > 1 else ''}, ...; {min(lens)}-{max(lens)} actions, "
            f"median {int(np.median(lens))}); setup {time.perf_counter() - t0:.1f} s"
        )
        for dev in devices:
            for wl in args.workloads.split(","):
                paths = (MatcherConfig.host_rows, 0) if args.compare_batched else (MatcherConfig.host_rows,)
                for b in batches:
                    for host_rows in paths:
                        r = bench_astgen(wl, dev, b, args.steps, args.warmup, args.skip, rows, args.seed, host_rows)
                        results.append(r)
                        print(f"{r.engine} {wl} {dev} B={b}: total p50 {r.stat('total', 50):,.0f} us", file=sys.stderr)
        if args.profile:
            for dev in devices:
                print(f"\n--- torch.profiler, astgen replay, {dev}, B={max(batches)}\n", file=sys.stderr)
                print(profile_astgen(dev, max(batches), rows, args.skip), file=sys.stderr)

    others = [e for e in engines_wanted if e in ("llguidance", "xgrammar")]
    if others:
        t0 = time.perf_counter()
        tok = train_bpe(default_compiled().n_actions)
        grammar = lark_grammar(args.grammar)
        engines, failures = load_engines(others, tok, grammar)
        for name, why in failures.items():
            notes.append(f"{name}: could not be run: `{why}`")
            print(f"{name} not measured: {why}", file=sys.stderr)
        if engines:
            trows, info = token_rows(tok, engines, max(batches), args.warmup + args.steps + 1, args.seed)
            notes.append(
                f"llguidance/xgrammar: Lark grammar '{args.grammar}' (Python simple statements, one per line); "
                f"byte-level BPE of {tok.get_vocab_size()} tokens; {info['statements']} stdlib statements accepted "
                f"by {' and '.join(e.name for e in engines)} ({info['rejected']} candidates rejected), "
                f"{info['mean_tokens_per_statement']:.1f} tokens each on average; versions: "
                + ", ".join(f"{e.name} {e.version}" for e in engines)
                + f"; setup {time.perf_counter() - t0:.1f} s"
            )
            for e in engines:
                for b in batches:
                    for par in [False, True] if args.par and b > 1 else [False]:
                        r = bench_engine(e, b, trows, args.steps, args.warmup, args.budget, args.seed, par)
                        results.append(r)
                        print(
                            f"{r.engine} B={b}: total p50 {r.stat('total', 50):,.0f} us ({r.steps} steps)",
                            file=sys.stderr,
                        )

    report += [
        "",
        "Microseconds per step for the whole batch (p50 / p90 over the timed steps):",
        "",
        table(results),
        "",
    ]
    report += [f"- {n}" for n in notes]
    report.append(f"- wall time of the run: {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
