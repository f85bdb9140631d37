"""The command line turns bad input into one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "astgen", *args],
        input=stdin.decode("latin-1") if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "syntax": b"def f(:\n    pass\n",
        "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "latin1_no_cookie": b"x = '\xe9t\xe9'\n",
        "empty": b"",
        "latin1_cookie": "# coding: latin-1\ns = 'déjà vu'\n".encode("latin-1"),
    }
    out = {}
    for name, data in made.items():
        p = tmp_path / f"{name}.py"
        p.write_bytes(data)
        out[name] = p
    return out


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("syntax", "syntax.py:1:7: invalid syntax"),
        ("binary", "binary file"),
        ("latin1_no_cookie", "not UTF-8"),
    ],
)
def test_bad_file_gives_one_line_and_exit_2(files: dict[str, Path], name: str, needle: str) -> None:
    r = run("grammar", "encode", str(files[name]))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("astgen: error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for target, needle in ((tmp_path / "nope.py", "no such file"), (tmp_path, "is a directory")):
        r = run("grammar", "encode", str(target))
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_empty_and_cookie_files_encode(files: dict[str, Path], tmp_path: Path) -> None:
    empty = run("grammar", "encode", str(files["empty"]))
    assert empty.returncode == 0 and empty.stdout.split()[-1] == "0"
    r = run("grammar", "encode", str(files["latin1_cookie"]))
    assert r.returncode == 0
    ids = tmp_path / "ids.txt"
    ids.write_text(r.stdout)
    back = run("grammar", "decode", str(ids))
    assert back.returncode == 0 and back.stdout.strip() == "s = 'déjà vu'"


def test_stdin_and_bad_action_ids(tmp_path: Path) -> None:
    r = run("grammar", "encode", "-", stdin=b"x = 1\n")
    assert r.returncode == 0 and r.stdout.split()[-1] == "0"
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3")
    r = run("grammar", "decode", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_roundtrip_command_on_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f(x):\n    return x * 2\n")
    (tmp_path / "b.py").write_text("broken(:\n")
    r = run("grammar", "roundtrip", str(tmp_path), "--jobs", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exact round trip: 1/1 (100.00%)" in r.stdout
    assert "1 not accepted by ast.parse" in r.stdout


def test_a_syntax_error_answers_before_any_model_loads(files: dict[str, Path], tmp_path: Path) -> None:
    from astgen.refactor import Operation, SamplingConfig
    from astgen.refactor.runner import run_files

    def loader():  # type: ignore[no-untyped-def]
        raise AssertionError("the model was loaded for a file that does not parse")

    code = run_files([str(files["syntax"])], Operation("infill"), SamplingConfig(), "diff", 1, loader)
    assert code == 2
    (tmp_path / "nohole.py").write_text("x = 1\n")
    assert run_files([str(tmp_path / "nohole.py")], Operation("infill"), SamplingConfig(), "diff", 1, loader) == 0
