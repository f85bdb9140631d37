"""The built wheel, installed without the source checkout: every command a user runs works from it.

The wheel is built from this checkout (`pip wheel . --no-deps`) and installed with `--no-deps` into a
fresh virtual environment whose dependencies come from the test environment's site-packages (a .pth
line: its own .pth files, such as the editable install's finder, are not processed, so the checkout's
`astgen` cannot leak in).  Every command runs from an empty folder outside the checkout."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from astgen.codec.source import quiet_compile

pytest.importorskip("torch")
pytest.importorskip("libcst")

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (
    "import os\n\n\n"
    "def is_hidden(path):  # keep this comment\n"
    '    """True for dot files."""\n'
    "    return os.path.basename(path).startswith(...)\n\n\n"
    "def count(values):\n"
    "    return len(values)\n"
)


class Env:
    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.bin = root / "bin"

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(list(args), cwd=self.work, env=env, capture_output=True, text=True, timeout=timeout)

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "python"), *args)

    def astgen(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "astgen"), *args)


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"  # a copy, so the build leaves no build/ or *.egg-info in the checkout
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "runs", "data", ".*cache"),
    )
    dist = base / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(dist), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "deprecated" not in built.stderr.lower() and "warning: package" not in built.stderr.lower()
    [wheel] = dist.glob("astgen-*.whl")
    root = base / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=True).create(root)
    purelib = Path(
        subprocess.run(
            [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "test-env-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    return Env(root, work)


def test_the_package_imports_from_the_wheel_not_the_checkout(wheel_env: Env) -> None:
    out = wheel_env.python(
        "-c",
        "import astgen, astgen.codec, astgen.matcher, astgen.refactor, astgen.research, astgen.research.cases; "
        "from astgen.codec import default_codec; print(astgen.__file__); "
        "print(default_codec().decode(default_codec().encode('x = 1\\n')), end='')",
    )
    assert out.returncode == 0, out.stderr
    path, code = out.stdout.splitlines()
    assert Path(path).is_relative_to(wheel_env.root) and code == "x = 1"


def test_help_lists_the_commands(wheel_env: Env) -> None:
    out = wheel_env.astgen("--help")
    assert out.returncode == 0, out.stderr
    for command in ("infill", "rewrite", "generate", "compare", "demo", "grammar"):
        assert command in out.stdout


def test_infill_and_rewrite_keep_the_rest_of_the_file(wheel_env: Env) -> None:
    path = wheel_env.work / "m.py"
    path.write_text(SOURCE)
    out = wheel_env.astgen("infill", str(path), "--print")
    assert out.returncode == 0, out.stderr
    assert "# keep this comment" in out.stdout and "..." not in out.stdout
    ast.parse(out.stdout)
    assert out.stdout.endswith("def count(values):\n    return len(values)\n")
    out = wheel_env.astgen("rewrite", str(path), "--function", "count", "--print", "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(SOURCE.split("def count")[0]) and "def count(values):\n" in out.stdout
    quiet_compile(out.stdout, "m.py")
    assert path.read_text() == SOURCE  # --print writes nothing


def test_generate_prints_a_function(wheel_env: Env) -> None:
    out = wheel_env.astgen("generate", "-n", "1", "--max-actions", "64")
    assert out.returncode == 0, out.stderr
    body = out.stdout.split("# --- function 1\n", 1)[1]
    assert isinstance(ast.parse(body).body[0], ast.FunctionDef | ast.AsyncFunctionDef)


def test_libcst_codemod_command_fills_a_copy(wheel_env: Env) -> None:
    folder = wheel_env.work / "codemod"
    folder.mkdir()
    target = folder / "m.py"
    target.write_text(SOURCE)
    out = wheel_env.python(
        "-m", "libcst.tool", "codemod", "--no-format", "-x", "astgen.refactor.codemod.AstgenCommand", str(folder)
    )
    assert out.returncode == 0, out.stderr
    new = target.read_text()
    assert new != SOURCE and "..." not in new and "# keep this comment" in new
    quiet_compile(new, "m.py")


def test_compare_outside_a_checkout_says_what_it_needs(wheel_env: Env) -> None:
    out = wheel_env.astgen("compare", "--budget", "small")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "source checkout" in lines[0], out.stderr
