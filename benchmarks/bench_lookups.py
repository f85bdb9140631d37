"""Same-run cost of strict lookups (issue 14): one strict `fill_mask` + `advance` step with lookups on
against the same matcher with `MatcherConfig(lookups=False)`, teacher-forced over stdlib files (median
over 400 steps after 200 untimed ones, best of three, one thread).

    .venv/bin/python -m benchmarks.bench_lookups
"""

from __future__ import annotations

import torch

from astgen.codec import default_codec, read_source
from astgen.compiled_default import default_compiled
from astgen.corpus import stdlib_files
from astgen.matcher import MatcherConfig
from benchmarks.bench_binding_rules import FILES, step_us

__all__ = ["main"]


def main() -> None:
    torch.set_num_threads(1)
    cg, codec = default_compiled(), default_codec()
    rows = [codec.encode(read_source(f))[:2000] for f in stdlib_files() if f.name in FILES]
    for b in (1, 8, 64):
        off = min(step_us(cg, rows, b, MatcherConfig(target_version=None, lookups=False)) for _ in range(3))
        on = min(step_us(cg, rows, b, MatcherConfig(target_version=None)) for _ in range(3))
        print(f"B={b}: lookups off {off:.0f} us, on {on:.0f} us per step, ratio {on / off:.3f}")


if __name__ == "__main__":
    main()
