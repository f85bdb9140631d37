"""Corpus splitting and encoding, training batches, validation windows and exact resume (CPU, tiny)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from astgen.codec import Codec
from training.data import CorpusFile, dedupe, encode_split, load_split, split_files, split_of

SOURCES = {
    "a.py": "import os\n\n\ndef f(x):\n    return x + 1\n",
    "b.py": "class C:\n    '''Doc.'''\n    y: int = 3\n\n    def g(self, *args, **kw):\n        yield from args\n",
    "c.py": "for i in range(10):\n    if i % 2:\n        print(f'{i!r:>4}', end='')\n",
}


def _write(folder: Path, sources: dict[str, str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sources.items():
        (folder / name).write_text(text, encoding="utf-8")
        paths.append(folder / name)
    return paths


def test_split_is_a_function_of_the_content_hash() -> None:
    assert split_of("0" * 64) == "train"
    assert split_of(format(90, "064x")) == "validation"
    assert split_of(format(199, "064x")) == "test"
    rng = np.random.default_rng(0)
    hashes = ["".join(rng.choice(list("0123456789abcdef"), 64)) for _ in range(2000)]
    counts = {s: 0 for s in ("train", "validation", "test")}
    for h in hashes:
        counts[split_of(h)] += 1
    assert 0.86 < counts["train"] / 2000 < 0.94
    assert counts["validation"] > 50 and counts["test"] > 50


def test_dedupe_keeps_the_first_copy_and_limit_is_reproducible(tmp_path: Path) -> None:
    paths = _write(tmp_path, {**SOURCES, "copy_of_a.py": SOURCES["a.py"]})
    files = dedupe(paths)
    assert [f.path.name for f in files] == ["a.py", "b.py", "c.py"]
    splits = split_files(files)
    assert sorted(f.path.name for s in splits.values() for f in s) == ["a.py", "b.py", "c.py"]
    limited = split_files(reversed(files), limit=2)
    smallest = sorted(files, key=lambda f: f.sha256)[:2]
    assert sorted(f.path.name for s in limited.values() for f in s) == sorted(f.path.name for f in smallest)


def test_encode_split_writes_documents_back_to_back(tmp_path: Path, codec: Codec) -> None:
    paths = _write(tmp_path / "src", {**SOURCES, "bad.py": "def f(:\n"})
    files = dedupe(paths)
    info = encode_split(files, tmp_path / "train.bin", tmp_path / "train.json", jobs=1, split="train")
    assert info == json.loads((tmp_path / "train.json").read_text())
    assert [Path(s["path"]).name for s in info["skipped"]] == ["bad.py"]
    assert "SourceSyntaxError" in info["skipped"][0]["error"]

    stream, loaded = load_split(tmp_path, "train")
    assert loaded == info
    assert stream.dtype == np.uint16
    docs = info["documents"]
    assert [Path(d["path"]).name for d in docs] == ["a.py", "b.py", "c.py"]
    offset = 0
    for d in docs:
        source = (tmp_path / "src" / Path(d["path"]).name).read_text()
        ids = codec.encode(source)
        assert d["offset"] == offset and d["length"] == len(ids)
        assert stream[offset : offset + len(ids)].tolist() == ids
        assert ids[-1] == 0  # every document ends with <eos>
        assert d["chars"] == len(codec.decode(ids))
        offset += len(ids)
    assert info["total_actions"] == offset == len(stream)
    assert info["total_chars"] == sum(d["chars"] for d in docs)

    # an up-to-date split is not encoded again
    (tmp_path / "train.bin").touch()
    again = encode_split(files, tmp_path / "train.bin", tmp_path / "train.json", jobs=1, split="train", force=False)
    assert again == info


def test_load_split_reports_a_missing_split(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="training.data"):
        load_split(tmp_path, "validation")


# ----------------------------------------------------------------------------- training pieces

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")
pytest.importorskip("transformers")


def test_validation_windows_score_every_action_once() -> None:
    from training.train import document_windows

    ids = np.arange(10, 47, dtype=np.uint16)  # 37 actions
    windows = document_windows(ids, seq_len=8, bos_id=1, eos_id=0)
    scored = []
    for w in windows:
        assert w.tokens[0] == 1 and len(w.tokens) <= 9
        assert w.lo >= 1  # never scored right after <bos>
        scored += w.tokens[w.lo + 1 : w.hi + 2].tolist()  # logit position p predicts token p + 1
    assert scored == ids.tolist()
    assert windows[0].tokens[1] == 0  # a document starts after <eos>, as in the training stream


def test_learning_rate_schedule() -> None:
    from training.train import lr_at, parse_args

    args, explicit = parse_args(["--lr", "1e-3", "--warmup", "10", "--steps", "110", "--min-lr-ratio", "0.1"])
    assert explicit == {"lr", "warmup", "steps", "min_lr_ratio"}
    assert lr_at(0, args) == pytest.approx(1e-4)
    assert lr_at(9, args) == pytest.approx(1e-3)
    assert lr_at(60, args) == pytest.approx(0.55e-3)
    assert lr_at(110, args) == pytest.approx(1e-4)


def _tiny_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    more = {f"m{i}.py": f"def f{i}(a, b={i}):\n    return [a * k for k in range(b)]\n" for i in range(6)}
    files = [CorpusFile(f.path, f.sha256) for f in dedupe(_write(tmp_path / "src", {**SOURCES, **more}))]
    encode_split(files, data / "train.bin", data / "train.json", jobs=1, split="train")
    encode_split(files[:3], data / "validation.bin", data / "validation.json", jobs=1, split="validation")
    return data


@pytest.mark.parametrize("features", [False, True], ids=["plain", "tree-features"])
def test_resume_continues_exactly(tmp_path: Path, features: bool) -> None:
    from safetensors.torch import load_file

    from training.train import main

    data = _tiny_data(tmp_path)
    common = [
        "--data", str(data), "--runs-dir", str(tmp_path / "runs"), "--hidden", "32", "--layers", "1",
        "--heads", "2", "--intermediate", "64", "--seq-len", "16", "--batch-size", "2", "--warmup", "1",
        "--min-lr-ratio", "1.0", "--log-every", "1", "--eval-every", "2", "--eval-tokens", "200", "--save-every", "2", "--cpu",
        *(["--tree-features"] if features else []),
    ]  # fmt: skip
    straight = main([*common, "--name", "straight", "--steps", "4"])
    main([*common, "--name", "resumed", "--steps", "2"])
    with pytest.raises(SystemExit, match="--resume"):
        main([*common, "--name", "resumed", "--steps", "4"])
    with pytest.raises(SystemExit, match="keeps its settings"):
        main([*common, "--name", "resumed", "--steps", "4", "--resume", "--lr", "0.5"])
    # a resumed run keeps the options it was started with (here --log-every 1, --cpu) unless given again
    resumed = main(["--runs-dir", str(tmp_path / "runs"), "--name", "resumed", "--steps", "4", "--resume"])
    assert straight["step"] == resumed["step"] == 4

    runs = tmp_path / "runs"
    a = load_file(str(runs / "straight" / "checkpoint" / "model.safetensors"))
    b = load_file(str(runs / "resumed" / "checkpoint" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if features:
        sa = load_file(str(runs / "straight" / "checkpoint" / "state_embedding.safetensors"))
        sb = load_file(str(runs / "resumed" / "checkpoint" / "state_embedding.safetensors"))
        assert torch.equal(sa["weight"], sb["weight"])

    def losses(name: str) -> list[tuple[str, int, float]]:
        lines = (runs / name / "metrics.jsonl").read_text().splitlines()
        return [(r["kind"], r["step"], r.get("train_loss", r.get("val_bpc"))) for r in map(json.loads, lines)]

    assert losses("straight") == losses("resumed")
    assert any(kind == "eval" for kind, _, _ in losses("straight"))
    state = json.loads((runs / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["tokens"] == 4 * 2 * 16
