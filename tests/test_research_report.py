"""The comparison report: every section rendered from results, plots written, winners computed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from training.compare import BUDGETS
from training.compare_report import SYSTEMS, wins, write_report

pytest.importorskip("matplotlib")


def _system(compile_: int, exact: int, seconds: float, calls: float) -> dict[str, Any]:
    per_kind = {k: {"n": 10, "parse": compile_, "compile": compile_, "exact": exact} for k in ("expr", "stmt", "body")}
    return {
        "per_kind": per_kind,
        "n": 30,
        "compile": 3 * compile_,
        "model_calls_per_program": calls,
        "seconds": seconds * 30,
        "seconds_per_valid_program": seconds,
        "mask_ms_per_step": 1.5,
    }


def _results() -> dict[str, Any]:
    infill = {"cases": 30, **{s: _system(10 - i, 3 - i // 2, 0.5 + i, 40.0 + i) for i, s in enumerate(SYSTEMS)}}
    samples = {"n": 8, "what": "functions"}
    for i, s in enumerate(SYSTEMS):
        samples[s] = {
            "parse": 8 - i,
            "compile": 8 - i,
            "mean_chars": 200.0,
            "model_calls_per_program": 90.0,
            "seconds": 4.0,
            "seconds_per_valid_program": 0.5,
            "mask_ms_per_step": 2.0,
            "example": "def f():\n    pass\n",
        }
    return {
        "budget": {"data": "data", "train": ["--steps", "10"], "retries": 2},
        "command": "python -m training.compare --budget small",
        "machine": "a test",
        "parameters": {"ast": 100, "tokens": 100},
        "training": {
            "ast": {"step": 10, "tokens": 1000, "elapsed": 5.0},
            "tokens": {"step": 10, "tokens": 1000, "elapsed": 6.0},
        },
        "learning_curves": {
            "ast": [{"step": 5, "positions": 500, "val_bpc": 2.0}, {"step": 10, "positions": 1000, "val_bpc": 1.5}],
            "tokens": [{"step": 5, "positions": 500, "val_bpc": 1.8}, {"step": 10, "positions": 1000, "val_bpc": 1.4}],
        },
        "grammar": {"files": 3, "accepted": 3, "rejected_examples": [], "tokens": 900, "mask_us_per_token": 100.0},
        "bits_per_char": {
            "documents": 2,
            "chars": 1000,
            "ast": {"positions": 450, "bits_per_position": 3.0, "bits_per_char": 1.35, "chars_per_position": 2.2},
            "tokens": {"positions": 330, "bits_per_position": 4.0, "bits_per_char": 1.32, "chars_per_position": 3.0},
        },
        "infill": infill,
        "samples": samples,
        "functional": {
            "tasks": 2,
            "holes": 6,
            "unexercised_dropped": 1,
            "find_seconds": 3.0,
            **{
                s: {"per_kind": {"expr": {"n": 6, "pass": 4 - i, "exact": 1}}, "pass": 4 - i}
                for i, s in enumerate(SYSTEMS)
            },
        },
        "seconds": {"setup_and_training": 1.0, "evaluation": 2.0},
    }


def test_report_has_every_section_and_plot(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    (tmp_path / "report_notes.md").write_text("## Notes\n\nhand-written\n", encoding="utf-8")
    write_report(_results(), report, tmp_path / "plots")
    text = report.read_text(encoding="utf-8")
    for heading in (
        "## Setup and fairness rule",
        "## The token model's grammar constraint",
        "## Bits per character",
        "## Infilling held-out code",
        "## Functional pass rate",
        "## Generating functions from nothing",
        "## Who wins what",
        "## Notes",
    ):
        assert heading in text
    assert "python -m training.compare --budget small" in text and "a test" in text
    for png in ("learning_curves.png", "infill_by_kind.png", "samples_valid.png"):
        assert (tmp_path / "plots" / png).stat().st_size > 1000
        assert f"plots/{png}" in text


def test_wins_name_the_better_model_per_metric() -> None:
    lines = wins(_results())
    assert any("bits per character" in line and "token model" in line for line in lines)  # 1.32 < 1.35
    assert any("infill compile rate" in line and "**AST model** wins" in line for line in lines)
    assert any("model calls" in line and "**AST model** wins" in line for line in lines)
    assert any("functional" in line and "**AST model** wins" in line for line in lines)


def test_budgets_share_the_architecture() -> None:
    small, full = BUDGETS["small"], BUDGETS["full"]
    for flag in ("--hidden", "--layers", "--heads", "--intermediate"):
        assert small.train[small.train.index(flag) + 1] == full.train[full.train.index(flag) + 1]


def test_cli_rejects_an_unknown_budget() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "astgen", "compare", "--budget", "huge"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "--budget" in result.stderr and "huge" in result.stderr
