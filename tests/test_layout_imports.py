"""The package layout as a rule: each layer imports only layers below it (lazy imports included),
the grammar and codec layers never import torch, and nothing in astgen imports the training scripts.
docs/architecture.md draws the same layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "astgen"

# layer of each module or package prefix (the longest matching prefix wins); a module may import
# modules of its own layer or below, except that the layers of one rank do not import each other
LAYERS: dict[str, tuple[int, str]] = {
    "astgen.errors": (0, "base"),
    "astgen.corpus": (0, "base"),
    "astgen.grammar": (1, "grammar"),
    "astgen.sandbox": (1, "checks"),  # running model-written code; torch-free, beside the grammar
    "astgen.checks": (1, "checks"),
    "astgen.codec": (2, "codec"),
    "astgen.compiled_default": (2, "codec"),
    "astgen.validity": (2, "codec"),
    "astgen.roundtrip": (2, "codec"),
    "astgen.features": (2, "codec"),
    "astgen.matcher": (3, "decode"),
    "astgen.sampling": (3, "decode"),
    "astgen.stepping": (3, "decode"),
    "astgen.lean": (3, "decode"),
    "astgen.decoding": (3, "decode"),
    "astgen.model": (3, "decode"),
    "astgen.logits_processor": (3, "decode"),
    "astgen.generator": (4, "generator"),
    "astgen.refactor": (5, "refactor"),
    "astgen.research": (5, "research"),
    "astgen.cli": (6, "cli"),
    "astgen.__main__": (6, "cli"),
    "astgen": (6, "cli"),  # the package's own __init__: lazy conveniences over the generator
}
TORCH_FREE = (
    "astgen.grammar",
    "astgen.codec",
    "astgen.errors",
    "astgen.corpus",
    "astgen.features",
    "astgen.sandbox",
    "astgen.checks",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(name: str) -> tuple[int, str]:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def _imports(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names if node.module == "astgen")
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_a_module_imports_only_its_own_layer_or_below(path: Path) -> None:
    me = _module_name(path)
    rank, group = _layer(me)
    bad = []
    for line, name in _imports(path):
        root = name.split(".")[0]
        if root == "training":
            bad.append(f"line {line}: {name} (the training scripts are not part of the package)")
        if root != "astgen" or name == "astgen":
            continue
        other_rank, other_group = _layer(name)
        if other_rank > rank or (other_rank == rank and other_group != group):
            bad.append(f"line {line}: {name} ({other_group}, layer {other_rank}) from {group}, layer {rank}")
    assert not bad, f"{me}: " + "; ".join(bad)


@pytest.mark.parametrize("path", [p for p in MODULES if _module_name(p).startswith(TORCH_FREE)], ids=_module_name)
def test_the_grammar_and_codec_layers_are_torch_free(path: Path) -> None:
    heavy = [name for _, name in _imports(path) if name.split(".")[0] in ("torch", "transformers", "libcst")]
    assert not heavy, f"{_module_name(path)} imports {heavy}"


def test_no_module_of_the_grammar_layer_imports_the_codec() -> None:
    for path in (PACKAGE / "grammar").rglob("*.py"):
        assert "astgen.codec" not in path.read_text(encoding="utf-8"), path
