"""The LibCST codemod command (codemod-test style: before -> after properties) and the refactor CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext, SkipFile

pytest.importorskip("torch")

from astgen.errors import AstgenError  # noqa: E402
from astgen.refactor import FileResult, parse_span, unified_diff, write_atomic  # noqa: E402
from astgen.refactor.codemod import AstgenCommand  # noqa: E402

BEFORE = "import os\r\n\r\n\r\ndef base(p):\r\n    # keep me\r\n    ...\r\n"


def test_codemod_fills_holes_and_keeps_the_rest(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    cmd = AstgenCommand(CodemodContext(filename="m.py"), seed=1, max_actions=12, generator=tiny_generator)
    after = cmd.transform_module(cst.parse_module(BEFORE)).code
    assert after.startswith("import os\r\n\r\n\r\ndef base(p):\r\n    # keep me\r\n")
    assert "..." not in after.split("# keep me")[1][:8]
    compile(after, "m.py", "exec")


def test_codemod_skips_files_without_holes(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    cmd = AstgenCommand(CodemodContext(filename="m.py"), generator=tiny_generator)
    with pytest.raises(SkipFile):
        cmd.transform_module_impl(cst.parse_module("x = 1\n"))


def test_codemod_rewrites_a_function(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    src = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    cmd = AstgenCommand(CodemodContext(filename="m.py"), function="b", max_actions=12, generator=tiny_generator)
    after = cmd.transform_module(cst.parse_module(src)).code
    assert after.startswith("def a():\n    return 1\n\n\ndef b():\n")


def test_span_parsing() -> None:
    assert parse_span("3:5-4:1") == (3, 5, 4, 1)
    for bad in ("3:5", "a:b-c:d", "4:1-3:5", "0:1-1:1"):
        with pytest.raises(AstgenError, match="--span"):
            parse_span(bad)


def test_write_atomic_refuses_changed_and_unwritable_files(tmp_path: Path) -> None:
    p = tmp_path / "f.py"
    p.write_bytes(b"x = 1\n")
    os.chmod(p, 0o640)
    write_atomic(p, b"x = 1\n", b"x = 2\n")
    assert p.read_bytes() == b"x = 2\n" and (p.stat().st_mode & 0o777) == 0o640
    with pytest.raises(AstgenError, match="changed on disk"):
        write_atomic(p, b"x = 1\n", b"x = 3\n")
    assert p.read_bytes() == b"x = 2\n"
    if os.geteuid() != 0:  # root may write anything
        os.chmod(p, 0o440)
        with pytest.raises(AstgenError, match="not writable"):
            write_atomic(p, b"x = 2\n", b"x = 3\n")
    assert not [q for q in tmp_path.iterdir() if q.name.endswith(".astgen-tmp")]


def test_diff_of_a_result() -> None:
    d = unified_diff(FileResult("f.py", "changed", "", b"a = 1\nb = 2\n", b"a = 1\nb = 3\n"))
    assert "--- a/f.py" in d and "-b = 2" in d and "+b = 3" in d


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "astgen", *args], capture_output=True, text=True, timeout=300)


def test_cli_dry_run_check_in_place_and_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "pkg" / "good.py"
    good.parent.mkdir()
    good.write_bytes(BEFORE.encode())
    bad = tmp_path / "pkg" / "bad.py"
    bad.write_bytes(b"def f(:\n    ...\n")
    binary = tmp_path / "pkg" / "blob.py"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    snapshot = {p: p.read_bytes() for p in (good, bad, binary)}
    r = run_cli("infill", str(tmp_path / "pkg"), "--max-actions", "40")
    assert r.returncode == 2  # two bad files
    assert "bad.py:1:7" in r.stderr and "binary file" in r.stderr and "Traceback" not in r.stderr
    assert "+++ b/" in r.stdout and "good.py" in r.stdout  # the good file's diff is still shown
    assert {p: p.read_bytes() for p in snapshot} == snapshot  # a dry run writes nothing
    r = run_cli("infill", "--check", str(good), "--max-actions", "40")
    assert r.returncode == 1 and good.read_bytes() == snapshot[good]
    r = run_cli("infill", "--in-place", str(good), "--max-actions", "40")
    assert r.returncode == 0, r.stderr
    new = good.read_bytes()
    assert new.startswith(b"import os\r\n\r\n\r\ndef base(p):\r\n    # keep me\r\n") and new != snapshot[good]
    compile(new, "good.py", "exec")
    r = run_cli("rewrite", str(good), "--function", "nope")
    assert r.returncode == 2 and "no function named 'nope'" in r.stderr
    r = run_cli("rewrite", str(good), "--span", "90:1-90:4")
    assert r.returncode == 2 and "outside the file" in r.stderr
    assert good.read_bytes() == new


def test_cli_on_a_source_tree_skips_files_without_holes(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    (tree / "pkg").mkdir(parents=True)
    for name in ("a.py", "pkg/b.py"):
        (tree / name).write_text("x = 1\n")
    r = run_cli("infill", "--check", str(tree))
    assert r.returncode == 0 and r.stdout == "", r.stderr  # no holes anywhere: nothing would change
    assert "2 files, 0 with holes, 0 would change, 0 failed" in r.stderr
    hole = tree / "pkg" / "c.py"
    hole.write_text("def f(x):\n    return ...\n")
    r = run_cli("infill", "--check", str(tree), "--max-actions", "16")
    assert r.returncode == 1 and r.stdout == f"would change: {hole}\n"  # one line per file, no diff
    assert "3 files, 1 with holes, 1 would change, 0 failed" in r.stderr
    r = run_cli("infill", str(hole), str(tree / "a.py"), "--max-actions", "16")
    assert r.returncode == 0 and f"--- a{hole}" in r.stdout and "a//" not in r.stdout  # absolute path header
    r = run_cli("infill", "--print", str(hole), str(hole), "--max-actions", "16")
    assert r.returncode == 0 and r.stdout.count(f"==> {hole} <==\n") == 2  # several files: a header each


def test_codemod_keeps_the_most_likely_filling_that_passes_the_doctests() -> None:
    from astgen.checks import DoctestCheck
    from tests.test_checks_selection import ADD, _FakeFiller

    filler = _FakeFiller(["return a - b", "return a + b", "return b + a"])
    cmd = AstgenCommand(CodemodContext(filename="arith.py"), samples=3, doctest=True, generator=filler)  # type: ignore[arg-type]
    assert isinstance(cmd.sampling.check, DoctestCheck) and cmd.sampling.temperature == 0.8
    after = cmd.transform_module_impl(cst.parse_module(ADD)).code
    assert after == ADD.replace("    ...\n", "    return a + b\n", 1) and filler.requests == [3]


def test_codemod_fails_a_file_none_of_whose_fillings_passes() -> None:
    from astgen.errors import NoPassingFillError
    from tests.test_checks_selection import ADD, _FakeFiller

    cmd = AstgenCommand(
        CodemodContext(filename="arith.py"),
        samples=2,
        doctest=True,
        generator=_FakeFiller(["pass", "return 0"]),  # type: ignore[arg-type]
    )
    with pytest.raises(NoPassingFillError, match="none of 2 distinct candidates passed"):
        cmd.transform_module_impl(cst.parse_module(ADD))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"doctest": True, "check_cmd": "pytest"}, "at most one"),
        ({"samples": 0}, "at least 1"),
        ({"check_cmd": " "}, "needs a command"),
    ],
)
def test_codemod_refuses_options_that_do_not_go_together(options: dict, message: str) -> None:  # type: ignore[type-arg]
    from astgen.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match=message):
        AstgenCommand(CodemodContext(filename="m.py"), **options)
