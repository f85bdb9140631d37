"""The checkpoint shipped inside the package: loading, library calls, the CLI, and bad checkpoints."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import astgen  # noqa: E402
from astgen.errors import CheckpointError, CheckpointMismatchError, NoHoleError, SourceSyntaxError  # noqa: E402
from astgen.features import STATE_FILE  # noqa: E402
from astgen.generator import default_checkpoint  # noqa: E402

SOURCE = 'import os\n\n\ndef is_hidden(path):\n    """True for dot files."""\n    return os.path.basename(path).startswith(...)\n'


@pytest.fixture(scope="module")
def gen() -> astgen.Generator:
    torch.set_num_threads(1)
    return astgen.load()


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "astgen", *args], input=stdin, capture_output=True, text=True, timeout=300
    )


def test_the_shipped_checkpoint_is_small_safetensors_and_describes_its_training() -> None:
    folder = default_checkpoint()
    files = {p.name for p in folder.iterdir()}
    info = json.loads((folder / "astgen.json").read_text())
    # A tree-state model (``--tree-features``) carries its state table beside the weights.
    expected = {"astgen.json", "config.json", "model.safetensors"}
    if info["training"]["args"].get("tree_features"):
        expected.add(STATE_FILE)
    assert files == expected
    assert sum(p.stat().st_size for p in folder.iterdir()) < 12_000_000
    assert info["training"]["actions_seen"] > 1_000_000 and info["training"]["step"] > 0


def test_module_level_infill_keeps_the_code_around_the_hole(gen: astgen.Generator) -> None:
    out = gen.infill(SOURCE)
    tree = ast.parse(out)
    compile(out, "<out>", "exec")
    fn = tree.body[1]
    assert isinstance(fn, ast.FunctionDef) and fn.name == "is_hidden"
    ret = fn.body[1]
    assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call)
    assert ast.unparse(ret.value.func) == "os.path.basename(path).startswith"
    assert len(ret.value.args) == 1 and not (
        isinstance(ret.value.args[0], ast.Constant) and ret.value.args[0].value is Ellipsis
    )


def test_errors_are_typed(gen: astgen.Generator) -> None:
    with pytest.raises(SourceSyntaxError, match=r"x\.py:1:"):
        gen.infill("def f(:\n  ...\n", filename="x.py")
    with pytest.raises(NoHoleError):
        gen.infill("x = 1\n")


def test_pickle_checkpoints_are_never_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(default_checkpoint(), folder)
    (folder / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("torch.load must never be called")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        astgen.load(folder)


def test_corrupt_and_mismatched_checkpoints(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(default_checkpoint(), folder)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="unreadable"):
        astgen.load(folder)
    shutil.copy(default_checkpoint() / "model.safetensors", folder / "model.safetensors")
    info = json.loads((folder / "astgen.json").read_text())
    info["grammar_hash"] = "0" * 16
    (folder / "astgen.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointMismatchError, match="grammar"):
        astgen.load(folder)


def test_cli_infill_and_generate(tmp_path: Path) -> None:
    src = tmp_path / "holes.py"
    src.write_text(SOURCE)
    r = run_cli("infill", "--print", str(src))
    assert r.returncode == 0, r.stderr
    compile(r.stdout, "<stdout>", "exec")
    assert r.stdout.startswith(SOURCE.split("startswith(")[0] + "startswith(")
    r = run_cli("generate", "-n", "2", "--seed", "1", "--max-actions", "120")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("# --- function") == 2
    compile(r.stdout, "<stdout>", "exec")


def test_cli_infill_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    ...\n")
    r = run_cli("infill", str(bad))
    assert r.returncode == 2 and "bad.py:1:7" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_infill_skips_a_file_without_holes_and_says_so(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n")
    r = run_cli("infill", "--check", str(plain))
    assert r.returncode == 0 and r.stdout == "" and "Traceback" not in r.stderr  # nothing to fill, nothing fails
    assert "no hole to fill" in r.stderr and "1 file, 0 with holes, 0 would change, 0 failed" in r.stderr
    assert plain.read_text() == "x = 1\n"
