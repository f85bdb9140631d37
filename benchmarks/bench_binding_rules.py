"""Same-run cost of the binding-order rule (issue 12) in the matcher: the shipped grammar against the
same grammar without the `pending` set and its @defer fields (identical actions and states otherwise),
one `fill_mask` + `advance` step, median over 400 teacher-forced steps of stdlib files (after 200
untimed ones), best of three, one thread.

    .venv/bin/python -m benchmarks.bench_binding_rules
"""

from __future__ import annotations

import re
import statistics
import time

import torch

from astgen.codec import default_codec, read_source
from astgen.compiled_default import default_compiled
from astgen.corpus import stdlib_files
from astgen.grammar import grammar_text
from astgen.grammar.actions import EOS
from astgen.grammar.compiled import CompiledGrammar, compile_grammar
from astgen.grammar.dsl import parse_grammar
from astgen.grammar.pieces import load_pieces
from astgen.matcher import Matcher, MatcherConfig

__all__ = ["FILES", "main", "step_us"]

FILES = ("csv.py", "argparse.py", "textwrap.py", "shutil.py", "ftplib.py", "difflib.py", "inspect.py", "tarfile.py")


def _without_rule() -> CompiledGrammar:
    text = grammar_text("python")
    plain = "\n".join(line for line in text.splitlines() if not line.startswith("set pending"))
    plain = re.sub(r" @defer=\w+", "", plain).replace("notin=unbound,pending", "notin=unbound")
    return compile_grammar(parse_grammar(plain, "python"), load_pieces("python"))


def step_us(c: CompiledGrammar, rows: list[list[int]], b: int, config: MatcherConfig | None = None) -> float:
    """Median microseconds of one teacher-forced `fill_mask` + `advance` step at batch `b`."""
    rr = (rows * 8)[:b]
    m = Matcher(c, b, config=config or MatcherConfig(strict=False, target_version=None))
    width = 600
    pad = torch.tensor([r[:width] + [EOS] * (width - len(r[:width])) for r in rr])
    for t in range(200):  # warm, untimed
        m.advance(pad[:, t])
    times = []
    logits = torch.zeros(b, c.n_actions)
    for t in range(200, width):
        t0 = time.perf_counter()
        m.fill_mask(logits.clone())
        m.advance(pad[:, t])
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    torch.set_num_threads(1)
    plain, shipped = _without_rule(), default_compiled()
    if plain.n_actions != shipped.n_actions:
        raise SystemExit("the grammar without the rule has other actions; the comparison would not be fair")
    codec = default_codec()
    rows = [codec.encode(read_source(f))[:2000] for f in stdlib_files() if f.name in FILES]
    for b in (1, 8, 64):
        without = min(step_us(plain, rows, b) for _ in range(3))
        with_rule = min(step_us(shipped, rows, b) for _ in range(3))
        print(f"B={b}: without {without:.0f} us, with {with_rule:.0f} us per step, ratio {with_rule / without:.3f}")


if __name__ == "__main__":
    main()
