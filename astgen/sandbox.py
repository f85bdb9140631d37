"""Run model-written code in a throwaway subprocess with resource limits, for executable checks.

Model-written code is run here, never in the caller's process: a fresh interpreter (or, for a user's
check command, `/bin/sh -c CMD`) in a fresh temporary directory, its own process group (killed as a
whole when it ends or times out), limits on address space, CPU time, file size and open files.  Every
Python process started inside also installs a guard (an audit hook, via `sitecustomize`) that refuses
file writes outside the sandbox's folder and process creation past a cap, so a fork loop or a stray
`os.remove` is refused inside the sandbox.  It keeps honest code from hurting the caller (infinite loops,
runaway allocations, forks, writes elsewhere); it is not a security boundary against hostile code (a
non-Python program the code starts is held only by the resource limits)."""

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COPY_LIMIT_BYTES",
    "EXIT_FAIL",
    "EXIT_MEMORY",
    "EXIT_PASS",
    "EXIT_RUNNER_ERROR",
    "SandboxResult",
    "run_command_sandboxed",
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
_MAX_PROCESSES = 64  # processes one sandbox's session may hold at once (the guard refuses more)
COPY_LIMIT_BYTES = 256 * 1024 * 1024
"""The most a project copied for a check command may hold (`run_command_sandboxed`)."""
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", "node_modules", "build", "dist", ".eggs"}
)  # fmt: skip

# The guard, written as `sitecustomize.py` on the sandbox's PYTHONPATH so that every Python process in
# the sandbox installs it at start-up.  An audit hook (PEP 578) sees each file open, path operation and
# process creation before it happens; raising there makes the operation fail with that error.
_GUARD = """
import os as _os
import sys as _sys


def _astgen_guard():
    root = _os.path.realpath(_os.environ.get("ASTGEN_SANDBOX_ROOT", "/nonexistent-sandbox-root"))
    limit = int(_os.environ.get("ASTGEN_SANDBOX_PROCESSES", "64"))
    devices = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"})
    write_flags = _os.O_WRONLY | _os.O_RDWR | _os.O_APPEND | _os.O_CREAT | _os.O_TRUNC
    realpath, join, isabs = _os.path.realpath, _os.path.join, _os.path.isabs

    def inside(path, dir_fd=None):
        if path is None or isinstance(path, int):
            return True  # an open descriptor: its file was checked when it was opened
        try:
            name = _os.fsdecode(_os.fspath(path))
        except TypeError:
            return True
        if isinstance(dir_fd, int) and dir_fd >= 0 and not isabs(name):  # (AT_FDCWD, -100: the cwd)
            try:
                name = join(_os.readlink("/proc/self/fd/%d" % dir_fd), name)
            except OSError:
                return False
        full = realpath(name)
        return full == root or full.startswith(root + _os.sep) or full in devices

    def refuse(path):
        raise PermissionError(13, "astgen sandbox: writing outside the sandbox folder is refused", str(path))

    def processes():
        try:
            session = _os.getsid(0)
            count = 0
            for entry in _os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        fd = _os.open("/proc/%s/stat" % entry, _os.O_RDONLY)
                        try:
                            stat = _os.read(fd, 512)
                        finally:
                            _os.close(fd)
                    except OSError:
                        continue
                    if int(stat.rsplit(b")", 1)[1].split()[3]) == session:
                        count += 1
            return count
        except (OSError, ValueError, IndexError):
            return 0  # no /proc: the resource limits still hold

    single = {"os.remove": 0, "os.rmdir": 0, "os.mkdir": 0, "os.chmod": 0, "os.chown": 0, "os.utime": 0,
              "os.truncate": 0, "os.chflags": 0, "os.lchflags": 0, "os.lchmod": 0, "shutil.rmtree": 0}
    spawn = frozenset({"os.fork", "os.forkpty", "subprocess.Popen", "os.posix_spawn", "os.spawn", "os.system",
                       "os.exec", "pty.spawn"})

    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writes = (flags & write_flags) if isinstance(flags, int) else any(c in (mode or "") for c in "wax+")
            if writes and not inside(path):
                refuse(path)
        elif event in single:
            dir_fd = args[-1] if event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                                           "os.utime", "shutil.rmtree") and isinstance(args[-1], int) else None
            if not inside(args[0], dir_fd):
                refuse(args[0])
        elif event in ("os.rename", "os.link"):
            if not inside(args[0], args[2]) or not inside(args[1], args[3]):
                refuse(args[1])
        elif event == "os.symlink":
            if not inside(args[1], args[2]):
                refuse(args[1])
        elif event in spawn and processes() >= limit:
            raise BlockingIOError(11, "astgen sandbox: too many processes (%d)" % limit)

    _sys.addaudithook(hook)


_astgen_guard()
del _astgen_guard
"""

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


def _guarded_env(root: Path, work: Path, base: dict[str, str], python_path: list[str]) -> dict[str, str]:
    """The child's environment: `base` plus a private HOME/TMPDIR, the guard on PYTHONPATH and its settings."""
    guard = root / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD, encoding="utf-8")
    return {
        **base,
        "HOME": str(work),
        "TMPDIR": str(work),
        "PYTHONPATH": os.pathsep.join([str(guard), *python_path]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "ASTGEN_SANDBOX_ROOT": str(work),
        "ASTGEN_SANDBOX_PROCESSES": str(_MAX_PROCESSES),
        # One thread per BLAS/OpenMP pool: less CPU, and far less address space reserved at import.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _launch(
    argv: list[str], cwd: Path, env: dict[str, str], root: Path, timeout_s: float, memory_mb: int
) -> SandboxResult:
    """Run `argv` in its own session under the limits; kill its whole process group when it ends."""
    cpu_s = math.ceil(timeout_s) + 1
    out_path, err_path = root / "stdout", root / "stderr"
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=cwd,
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
            _kill_group(proc.pid)  # leftovers of a finished run, too
    seconds = time.monotonic() - start
    output = (_tail(out_path) + _tail(err_path))[-_DETAIL_CHARS:]
    if timed_out:
        reason = f"killed after the {timeout_s:g} s wall-clock timeout\n"
        detail = reason + output[len(reason) - _DETAIL_CHARS :]
        return SandboxResult("timeout", proc.returncode, seconds, detail)
    return SandboxResult(_classify(proc.returncode, output, cpu_s, seconds), proc.returncode, seconds, output)


def run_sandboxed(
    script: str, timeout_s: float = 10.0, memory_mb: int = 512, path: Sequence[str] = ()
) -> SandboxResult:
    """Run Python source `script` in a fresh, limited, guarded subprocess; report how it ended.

    Wall-clock `timeout_s` (the whole process group is killed), CPU time ceil(timeout_s) + 1 s,
    address space `memory_mb` MiB.  `path`: folders put on the child's sys.path (read, never written).
    The temporary directory (the child's cwd, HOME and TMPDIR) is deleted."""
    root = Path(tempfile.mkdtemp(prefix="astgen-sandbox-"))
    try:
        work = root / "work"
        work.mkdir()
        script_path = work / "script.py"
        script_path.write_text(script, encoding="utf-8")
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        env = _guarded_env(root, work, base, list(path))
        # -s -P: no user site-packages, no script/cwd directory on sys.path.  Not -I: it implies -E,
        # which would ignore PYTHONPATH (the guard) and PYTHONHASHSEED; the environment is built here.
        argv = [sys.executable, "-s", "-P", "-c", _RUNNER, str(script_path)]
        return _launch(argv, work, env, root, timeout_s, memory_mb)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy_project(project: Path, dest: Path) -> None:
    """Copy `project` to `dest` without VCS folders, virtual environments and caches; OSError past the cap."""
    total = 0

    def ignore(folder: str, names: list[str]) -> set[str]:
        nonlocal total
        skipped = {n for n in names if n in _SKIP_DIRS or n.endswith(".egg-info")}
        for n in names:
            if n not in skipped:
                try:
                    total += os.lstat(os.path.join(folder, n)).st_size
                except OSError:
                    pass
        if total > COPY_LIMIT_BYTES:
            raise OSError(f"{project} holds more than {COPY_LIMIT_BYTES // 2**20} MiB to copy for the check")
        return skipped

    shutil.copytree(project, dest, symlinks=True, ignore=ignore)


def run_command_sandboxed(
    command: str,
    project: Path,
    files: Mapping[str, bytes],
    timeout_s: float = 120.0,
    memory_mb: int = 4096,
) -> SandboxResult:
    """Run the shell command `command` in a temporary copy of the folder `project`, with `files`
    (paths relative to `project` -> new bytes) written into the copy first; exit status 0 is "pass".

    The command runs from the copy's root with the caller's PATH and environment, a private HOME and
    TMPDIR, the copy (and its `src/`, if any) first on PYTHONPATH so the code under check is imported from
    the copy, and the guard in every Python process.  Raises OSError if the project cannot be copied."""
    root = Path(tempfile.mkdtemp(prefix="astgen-check-"))
    try:
        work = root / "work"
        work.mkdir()
        copy = work / (project.name or "project")
        _copy_project(project, copy)
        for rel, data in files.items():
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ASTGEN_SANDBOX_")}
        user_path = [p for p in inherited.pop("PYTHONPATH", "").split(os.pathsep) if p]
        first = [str(copy / "src")] if (copy / "src").is_dir() else []
        env = _guarded_env(root, work, inherited, [*first, str(copy), *user_path])
        result = _launch(["/bin/sh", "-c", command], copy, env, root, timeout_s, memory_mb)
        if result.status == "error" and result.returncode is not None and result.returncode > 0:
            return SandboxResult("fail", result.returncode, result.seconds, result.detail)  # any non-zero exit
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)
