"""The shipped model's outputs pinned: greedy infills, a seeded generation and a CLI fill.

Recorded before the package layout moved (issue 11); a refactoring that changes any of them
changed behaviour.  A new shipped checkpoint re-records them (`tests/data/pinned_outputs.json`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import astgen  # noqa: E402

PINS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "pinned_outputs.json").read_text())
GREEDY = sorted(k for k, v in PINS.items() if "greedy" in v)


@pytest.fixture(scope="module")
def gen() -> astgen.Generator:
    torch.set_num_threads(1)
    return astgen.load()


@pytest.mark.parametrize("name", GREEDY)
def test_greedy_infill_is_unchanged(gen: astgen.Generator, name: str) -> None:
    assert gen.infill(PINS[name]["source"], max_actions=96) == PINS[name]["greedy"]


def test_seeded_generation_is_unchanged(gen: astgen.Generator) -> None:
    pin = PINS["sampled"]
    assert gen.generate(pin["source"], n=2, seed=pin["seed"], max_actions=128) == pin["generate"]


def test_cli_infill_print_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "f.py"
    path.write_text(PINS["cli_infill"]["source"])
    out = subprocess.run(
        [sys.executable, "-m", "astgen", "infill", str(path), "--print"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == PINS["cli_infill"]["print"]
