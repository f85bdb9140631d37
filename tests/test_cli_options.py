"""Every option of every command with an out-of-range or malformed value: one line on stderr naming the
option, exit code 2, no traceback.  Most are refused while parsing, before anything heavy loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FILE = "m.py"  # created in the working folder of each run

BAD_AT_PARSE = [
    ("infill", FILE, "--jobs", "0"),
    ("infill", FILE, "--temperature", "-1"),
    ("infill", FILE, "--top-p", "1.5"),
    ("infill", FILE, "--max-actions", "-5"),
    ("infill", FILE, "--max-actions", "lots"),
    ("infill", FILE, "--no-such-option"),
    ("infill", FILE, "--samples", "0"),
    ("infill", FILE, "--check-timeout", "0"),
    ("infill", FILE, "--doctest", "--check-cmd", "true"),
    ("infill", FILE, "--check-cmd", " "),
    ("rewrite", FILE, "--function", "f", "--samples", "-2"),
    ("rewrite", FILE, "--function", "f", "--jobs", "-1"),
    ("rewrite", FILE, "--function", "f", "--temperature", "-0.5"),
    ("rewrite", FILE, "--function", "f", "--top-p", "2"),
    ("rewrite", FILE, "--function", "f", "--max-actions", "0"),
    ("generate", "-n", "-1"),
    ("generate", "-n", "0"),
    ("generate", "--temperature", "-1"),
    ("generate", "--top-p", "7"),
    ("generate", "--max-actions", "0"),
    ("generate", "--seed", "x"),
    ("grammar", "roundtrip", "--jobs", "0"),
    ("grammar", "roundtrip", "--limit", "0"),
    ("grammar", "sample", "-n", "0"),
    ("grammar", "sample", "--batch", "0"),
    ("grammar", "sample", "--max-actions", "0"),
    ("grammar", "sample", "--max-terminal-pieces", "0"),
    ("grammar", "sample", "--jobs", "0"),
    ("grammar", "sample", "--show", "-1"),
    ("demo", "--samples", "-1"),
    ("compare", "--budget", "huge"),
    ("infill", FILE, "--target-version", "3.99"),
    ("infill", FILE, "--target-version", "three"),
    ("rewrite", FILE, "--function", "f", "--target-version", "2.7"),
    ("generate", "--target-version", "4.0"),
    ("grammar", "sample", "--target-version", "3.10"),
]
# refused by the library once the model's window or the machine is known (torch is imported first)
BAD_AT_LOAD = [
    ("infill", FILE, "--max-actions", "2000"),
    ("infill", FILE, "--top-p", "0"),
    ("generate", "--max-actions", "5000"),
    ("generate", "--device", "cuda:7"),
    ("infill", FILE, "--device", "nonsense"),
]


def _run(tmp_path: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    (tmp_path / FILE).write_text("def f(x):\n    return ...\n")
    return subprocess.run(
        [sys.executable, "-m", "astgen", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )


def _check_one_line(out: subprocess.CompletedProcess[str], args: tuple[str, ...]) -> None:
    assert out.returncode == 2, (args, out.stdout[-500:], out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("astgen: error: "), out.stderr[-2000:]
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize("args", BAD_AT_PARSE, ids=" ".join)
def test_a_bad_option_is_refused_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = _run(tmp_path, args)
    _check_one_line(out, args)
    flags = [a for a in args if a.startswith("-") and not a.lstrip("-").replace(".", "").isdigit()]
    assert flags[-1] in out.stderr  # the option with the bad value (or the unknown one) is named


@pytest.mark.parametrize("args", BAD_AT_LOAD, ids=" ".join)
def test_an_option_the_model_or_machine_cannot_take_is_refused_in_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    pytest.importorskip("torch")
    out = _run(tmp_path, args)
    _check_one_line(out, args)
    assert any(word in out.stderr for word in ("max_actions", "top_p", "device")), out.stderr
    assert (tmp_path / FILE).read_text() == "def f(x):\n    return ...\n"


def test_help_reads_as_sentences_without_type_tags() -> None:
    out = subprocess.run([sys.executable, "-m", "astgen", "infill", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "<bool>" not in out.stdout and "[default: 256; x>=1]" in " ".join(out.stdout.split())
    out = subprocess.run([sys.executable, "-m", "astgen", "generate", "--help"], capture_output=True, text=True)
    assert "--temperature" in out.stdout and "greedy" in out.stdout and "--device" in out.stdout
