"""The refactoring tool: fill holes in real files, or rewrite a function body or a span, keeping every
other byte (LibCST).

    splice   one file's bytes -> new bytes (holes numbered, filled by a `HoleFiller`, spliced back)
    files    which files, one `Operation` per file, diffs, atomic writes
    runner   an operation over many files (the CLI's `infill` / `rewrite`), worker processes
    codemod  the same as a LibCST codemod command (`astgen.refactor.codemod.AstgenCommand`)

Importing this package loads LibCST but no model and no torch."""

from __future__ import annotations

from astgen.refactor.files import (
    FileResult,
    Operation,
    apply_operation,
    expand_paths,
    parse_span,
    process_file,
    unified_diff,
    write_atomic,
)
from astgen.refactor.filler import HoleFiller, SamplingConfig, sampling_config
from astgen.refactor.splice import Span, fill_file_bytes, parse_file_bytes, rewrite_function_bytes, rewrite_span_bytes

__all__ = [
    "FileResult",
    "HoleFiller",
    "Operation",
    "SamplingConfig",
    "sampling_config",
    "Span",
    "apply_operation",
    "expand_paths",
    "fill_file_bytes",
    "parse_file_bytes",
    "parse_span",
    "process_file",
    "rewrite_function_bytes",
    "rewrite_span_bytes",
    "unified_diff",
    "write_atomic",
]
