"""Does the mask allow real code?  Teacher-force standard-library files through the matcher (non-strict,
every Python version's syntax) and list the files in which it refuses an action the file really takes.

    python -m training.check_mask_real_code [--every 8]

A refusal is either code Python itself rejects or that fails at run time, or a symbol-set rule that is
stricter than Python; docs/refactoring.md lists what the last run found."""

from __future__ import annotations

import argparse
import time

import torch

from astgen.codec import default_codec, read_source
from astgen.compiled_default import default_compiled
from astgen.corpus import stdlib_files
from astgen.errors import AstgenError
from astgen.grammar.actions import EOS
from astgen.matcher import Matcher, MatcherConfig

__all__ = ["main", "refusals"]


def refusals(paths: list[str], batch: int = 32, max_actions: int = 20000) -> dict[str, tuple[int, str]]:
    """Per file with a refused real action: its position and the action's name."""
    codec, cg = default_codec(), default_compiled()
    rows = []
    for p in paths:
        try:
            ids = codec.encode(read_source(p), p)
        except (AstgenError, RecursionError):
            continue
        if len(ids) <= max_actions:
            rows.append((p, ids))
    rows.sort(key=lambda r: len(r[1]))
    bad: dict[str, tuple[int, str]] = {}
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        m = Matcher(cg, len(chunk), config=MatcherConfig(strict=False, target_version=None))
        width = max(len(ids) for _, ids in chunk)
        padded = torch.tensor([ids + [EOS] * (width - len(ids)) for _, ids in chunk])
        rows_index = torch.arange(len(chunk))
        for t in range(width):
            ok = m.mask()[rows_index, padded[:, t]]
            for b in (~ok).nonzero().flatten().tolist():
                bad.setdefault(chunk[b][0], (t, cg.action_name(int(padded[b, t]))))
            m.advance(padded[:, t])
    return bad


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=8, help="check every N-th standard-library file (sorted)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    paths = [str(p) for p in sorted(stdlib_files())][:: args.every]
    t0 = time.perf_counter()
    bad = refusals(paths)
    print(f"{len(paths)} files, {len(bad)} with a refused real action ({time.perf_counter() - t0:.0f} s)")
    for path, (t, name) in sorted(bad.items()):
        print(f"{path}: action {t} ({name})")


if __name__ == "__main__":
    main()
