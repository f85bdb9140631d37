"""The sandbox: outcomes map to statuses, limits hold, the guard refuses writes elsewhere and fork loops,
check commands run on a copy, nothing is left behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from astgen.sandbox import EXIT_FAIL, EXIT_MEMORY, EXIT_PASS, SandboxResult, run_command_sandboxed, run_sandboxed


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a killed orphan may wait a moment to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(
    "script",
    ["x = sum(range(10))\nassert x == 45\n", "import sys\nsys.exit(0)\n", "import sys\nsys.exit()\n", ""],
)
def test_passing_script_passes(script: str) -> None:
    result = run_sandboxed(script, timeout_s=10)
    assert isinstance(result, SandboxResult)
    assert result.status == "pass" and result.passed
    assert result.returncode == EXIT_PASS


def test_failing_assert_is_fail_with_the_assertion_in_detail() -> None:
    result = run_sandboxed("def f():\n    return 2\nassert f() == 3, 'f is off by one'\n")
    assert result.status == "fail" and not result.passed
    assert result.returncode == EXIT_FAIL
    assert "AssertionError: f is off by one" in result.detail
    assert "_sandbox_run" not in result.detail  # the runner's own frame is left out of the traceback


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("raise ValueError('nope')\n", "ValueError: nope"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
        ("import sys\nsys.exit('bad input')\n", "bad input"),
        ("x = (\n", "SyntaxError"),
    ],
)
def test_other_exceptions_are_fail(script: str, expected: str) -> None:
    result = run_sandboxed(script)
    assert result.status == "fail"
    assert expected in result.detail


def test_infinite_loop_times_out() -> None:
    start = time.monotonic()
    result = run_sandboxed("while True:\n    pass\n", timeout_s=1)
    assert time.monotonic() - start < 5
    assert result.status == "timeout" and not result.passed
    assert "timeout" in result.detail


def test_sleeping_script_times_out_on_wall_clock() -> None:
    result = run_sandboxed("import time\nprint('started', flush=True)\ntime.sleep(60)\n", timeout_s=1)
    assert result.status == "timeout"
    assert result.seconds < 5
    assert "started" in result.detail  # output up to the kill is kept


def test_allocating_past_the_limit_is_memory() -> None:
    result = run_sandboxed("b = bytearray(2 * 1024**3)\n", memory_mb=256)
    assert result.status == "memory" and not result.passed
    assert result.returncode == EXIT_MEMORY


def test_memory_limit_leaves_room_for_ordinary_scripts() -> None:
    assert run_sandboxed("b = bytearray(16 * 1024**2)\nassert len(b) == 16 * 1024**2\n", memory_mb=256).passed


def test_forked_sleeper_is_killed_with_the_process_group() -> None:
    script = (
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "print('CHILD', child.pid, flush=True)\n"
        "while True:\n"
        "    time.sleep(0.05)\n"
    )
    result = run_sandboxed(script, timeout_s=1)
    assert result.status == "timeout"
    pid = int(result.detail.split("CHILD ")[1].split()[0])
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_background_child_is_killed_after_a_passing_script() -> None:
    script = "import subprocess\nchild = subprocess.Popen(['sleep', '60'])\nprint('CHILD', child.pid)\n"
    result = run_sandboxed(script)
    assert result.passed
    pid = int(result.detail.split("CHILD ")[1].split()[0])
    deadline = time.monotonic() + 3
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_fresh_working_directory_is_deleted_afterwards() -> None:
    script = (
        "import os, tempfile\n"
        "open('scratch.txt', 'w').write('x')\n"
        "print('CWD', os.getcwd(), 'TMP', tempfile.gettempdir(), 'FILES', sorted(os.listdir('.')))\n"
    )
    result = run_sandboxed(script)
    assert result.passed
    words = result.detail.split()
    cwd = Path(words[words.index("CWD") + 1])
    assert cwd != Path.cwd()
    assert words[words.index("TMP") + 1] == str(cwd)
    assert not cwd.exists() and not cwd.parent.exists()


def test_environment_and_stdin_are_reduced(monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "import os, sys\n"
        "assert os.environ['PYTHONHASHSEED'] == '0' and sys.flags.hash_randomization == 0\n"
        "assert 'SANDBOX_TEST_SECRET' not in os.environ and '/nonexistent' not in os.environ['PYTHONPATH']\n"
        "assert sys.stdin.read() == ''\n"
        "assert os.getcwd() not in sys.path and '' not in sys.path\n"
    )
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "1")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent")
    result = run_sandboxed(script)
    assert result.passed, result.detail


def test_file_size_limit_turns_huge_writes_into_failures() -> None:
    result = run_sandboxed("open('big', 'wb').write(b'x' * (64 * 1024**2))\n")
    assert result.status == "fail"
    assert "File too large" in result.detail


def test_detail_is_a_short_tail() -> None:
    result = run_sandboxed("print('a' * 10000)\nprint('END')\n")
    assert result.passed
    assert len(result.detail) <= 500 and result.detail.rstrip().endswith("END")


def test_killed_by_a_signal_is_error() -> None:
    result = run_sandboxed("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    assert result.status == "error"
    assert result.returncode is not None and result.returncode < 0


@pytest.mark.parametrize(
    "write",
    [
        "open(TARGET, 'w').write('x')",
        "open(TARGET, 'ab')",
        "import os\nos.close(os.open(TARGET, os.O_WRONLY | os.O_CREAT))",
        "import os\nos.remove(TARGET)",
        "import os\nos.rename(TARGET, TARGET + '.moved')",
        "import shutil\nshutil.rmtree(os.path.dirname(TARGET))",
        "import os\nos.mkdir(TARGET + '.d')",
        "import os\nos.symlink('/etc/passwd', TARGET + '.link')",
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'open(%r, \"w\")' % TARGET], check=True)",
    ],
)
def test_writes_outside_the_sandbox_are_refused(tmp_path: Path, write: str) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("original")
    result = run_sandboxed(f"import os\nTARGET = {str(target)!r}\n{write}\n")
    assert result.status == "fail", result.detail
    assert "outside the sandbox" in result.detail or "CalledProcessError" in result.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert target.read_text() == "original"


def test_reading_outside_and_writing_inside_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("payload")
    script = (
        f"assert open({str(tmp_path / 'data.txt')!r}).read() == 'payload'\n"
        "import os, tempfile\n"
        "open('mine.txt', 'w').write('x'); os.rename('mine.txt', 'moved.txt'); os.remove('moved.txt')\n"
        "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'x')\n"
        "open(os.devnull, 'w').write('x')\n"
    )
    result = run_sandboxed(script)
    assert result.passed, result.detail


def test_fork_loop_is_capped_and_the_run_continues() -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    result = run_sandboxed(bomb, timeout_s=2)
    assert result.status == "timeout"
    assert time.monotonic() - start < 10
    assert run_sandboxed("print('after')\n").passed  # the machine is still usable


def test_forks_past_the_cap_are_refused() -> None:
    script = (
        "import os, time\ncount = 0\n"
        "while True:\n"
        "    try:\n        pid = os.fork()\n    except BlockingIOError:\n        break\n"
        "    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
        "    count += 1\n"
        "print('FORKS', count)\n"
    )
    result = run_sandboxed(script, timeout_s=10)
    assert result.passed, result.detail
    assert 0 < int(result.detail.split("FORKS ")[1].split()[0]) < 64


def test_command_runs_on_a_copy_with_the_new_file(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "mod.py").write_text("X = 1\n")
    (project / "check.py").write_text("from pkg.mod import X\nassert X == 2, X\n")
    (project / ".git").mkdir()
    (project / ".git" / "big").write_bytes(b"x" * 1000)
    passed = run_command_sandboxed("python check.py && ls -a > listing.txt", project, {"pkg/mod.py": b"X = 2\n"})
    assert passed.passed, passed.detail
    failed = run_command_sandboxed("python check.py", project, {})
    assert failed.status == "fail" and "AssertionError: 1" in failed.detail
    assert (project / "pkg" / "mod.py").read_text() == "X = 1\n"  # the original is never touched
    assert not (project / "listing.txt").exists()


def test_command_cannot_write_into_the_original_project(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("A = 1\n")
    cmd = f"python -c \"open({str(project / 'a.py')!r}, 'w').write('A = 2')\""
    result = run_command_sandboxed(cmd, project, {})
    assert result.status == "fail" and "outside the sandbox" in result.detail
    assert (project / "a.py").read_text() == "A = 1\n"


def test_command_timeout_kills_the_group(tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_command_sandboxed("sleep 60", tmp_path, {}, timeout_s=1)
    assert result.status == "timeout"
    assert time.monotonic() - start < 5
