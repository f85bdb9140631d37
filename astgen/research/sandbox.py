"""Run a Python script in a throwaway subprocess with resource limits, for executable checks.

Model-written code is run here, never in the harness's own process: a fresh interpreter in a fresh
temporary directory, its own process group (killed as a whole on timeout), limits on address space,
CPU time, file size and open files.  It keeps honest code from hurting the harness (infinite loops,
runaway allocations, stray children); it is not a security boundary against hostile code."""

from __future__ import annotations

import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EXIT_FAIL",
    "EXIT_MEMORY",
    "EXIT_PASS",
    "EXIT_RUNNER_ERROR",
    "SandboxResult",
    "run_sandboxed",
]

EXIT_PASS = 0
"""The script ran to its end (or raised `SystemExit(0)` / `SystemExit(None)`)."""
EXIT_FAIL = 1
"""The script raised any other exception (an `AssertionError` included) or `SystemExit` with another code."""
EXIT_MEMORY = 97
"""The script raised `MemoryError` (the address-space limit was hit)."""
EXIT_RUNNER_ERROR = 98
"""The runner itself could not load the script (not the script's fault)."""

_DETAIL_CHARS = 500
_FSIZE_BYTES = 16 * 1024 * 1024
_NOFILE = 64
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "out of memory")

# The runner, passed with -c: executes the script file named in argv[1] as `__main__` and maps the outcome
# to an exit code.  It ends with os._exit so that atexit hooks and non-daemon threads cannot stall it.
_RUNNER = f"""
import os, sys

def _sandbox_run(path):
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except BaseException as e:
        sys.stderr.write("sandbox runner: cannot read the script: %r\\n" % (e,))
        return {EXIT_RUNNER_ERROR}
    sys.argv[:] = [path]
    out_of_memory = False
    try:
        exec(compile(source, path, "exec"), sys.modules["__main__"].__dict__)
    except MemoryError:
        out_of_memory = True
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return {EXIT_PASS}
        if not isinstance(e.code, int):
            sys.stderr.write("%s\\n" % (e.code,))
        else:
            sys.stderr.write("SystemExit: %d\\n" % (e.code,))
        return {EXIT_FAIL}
    except BaseException as e:
        try:
            import traceback
            traceback.print_exception(type(e), e, e.__traceback__.tb_next)  # without the runner's frame
        except BaseException:
            sys.stderr.write("exception (its traceback could not be printed)\\n")
        return {EXIT_FAIL}
    if out_of_memory:
        sys.stderr.write("MemoryError\\n")
        return {EXIT_MEMORY}
    return {EXIT_PASS}

_sandbox_code = _sandbox_run(sys.argv[1])
for _sandbox_stream in (sys.stdout, sys.stderr):
    try:
        _sandbox_stream.flush()
    except BaseException:
        pass
os._exit(_sandbox_code)
"""


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one sandboxed run."""

    status: str  # "pass" | "fail" | "timeout" | "memory" | "error"
    returncode: int | None
    seconds: float
    detail: str  # the last ~500 characters of stdout + stderr, or why the run was killed

    @property
    def passed(self) -> bool:
        """Whether the script ran to its end without an exception."""
        return self.status == "pass"


def _set_limit(which: int, value: int) -> None:
    """Set a soft and hard limit, never above the current hard limit (raising it would fail)."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _limits(memory_mb: int, cpu_s: int) -> None:
    """preexec_fn: the child's resource limits (runs in the child between fork and exec)."""
    _set_limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    # SIGXCPU at the soft limit; SIGKILL a second later should the child ignore it.
    cpu_hard = cpu_s + 1 if hard == resource.RLIM_INFINITY else min(cpu_s + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(cpu_s, cpu_hard), cpu_hard))
    _set_limit(resource.RLIMIT_FSIZE, _FSIZE_BYTES)
    _set_limit(resource.RLIMIT_NOFILE, _NOFILE)
    _set_limit(resource.RLIMIT_CORE, 0)


def _tail(path: Path, chars: int = _DETAIL_CHARS) -> str:
    """The last `chars` characters of a (possibly large) output file."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * chars))
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-chars:]


def _kill_group(pgid: int) -> None:
    """SIGKILL a whole process group (the child and anything it spawned without leaving the group)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _classify(returncode: int, output: str, cpu_limit_s: int, seconds: float) -> str:
    """Map a finished child's exit status (not killed by our wall-clock timeout) to a status."""
    if returncode == EXIT_PASS:
        return "pass"
    if returncode == EXIT_FAIL:
        return "fail"
    if returncode == EXIT_MEMORY:
        return "memory"
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU:
            return "timeout"
        if sig in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            if any(marker in output for marker in _MEMORY_MARKERS):
                return "memory"
            if sig == signal.SIGKILL and seconds >= cpu_limit_s:
                return "timeout"  # the CPU hard limit (SIGXCPU was ignored)
    return "error"


def run_sandboxed(script: str, timeout_s: float = 10.0, memory_mb: int = 512) -> SandboxResult:
    """Run Python source `script` in a fresh, limited subprocess; report how it ended.

    Wall-clock `timeout_s` (the whole process group is killed), CPU time ceil(timeout_s) + 1 s,
    address space `memory_mb` MiB.  The temporary directory (the child's cwd, HOME and TMPDIR) is deleted."""
    cpu_s = math.ceil(timeout_s) + 1
    root = Path(tempfile.mkdtemp(prefix="astgen-sandbox-"))
    try:
        work = root / "work"
        work.mkdir()
        script_path = work / "script.py"
        script_path.write_text(script, encoding="utf-8")
        out_path, err_path = root / "stdout", root / "stderr"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "HOME": str(work),
            "TMPDIR": str(work),
            # One thread per BLAS/OpenMP pool: less CPU, and far less address space reserved at import.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        # -s -P: no user site-packages, no script/cwd directory on sys.path.  Not -I: it implies -E,
        # which would ignore PYTHONHASHSEED (the environment is built here, so -E protects nothing).
        argv = [sys.executable, "-s", "-P", "-c", _RUNNER, str(script_path)]
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=work,
                env=env,
                start_new_session=True,
                preexec_fn=lambda: _limits(memory_mb, cpu_s),
                close_fds=True,
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            finally:
                _kill_group(proc.pid)  # leftovers of a finished script, too
        seconds = time.monotonic() - start
        output = (_tail(out_path) + _tail(err_path))[-_DETAIL_CHARS:]
        if timed_out:
            reason = f"killed after the {timeout_s:g} s wall-clock timeout\n"
            detail = reason + output[len(reason) - _DETAIL_CHARS :]
            return SandboxResult("timeout", proc.returncode, seconds, detail)
        status = _classify(proc.returncode, output, cpu_s, seconds)
        return SandboxResult(status, proc.returncode, seconds, output)
    finally:
        shutil.rmtree(root, ignore_errors=True)
