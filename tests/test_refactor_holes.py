"""Holes users mean: idiomatic `...` stay, `--all-holes` and `# astgen: fill` select explicitly, and
`--function` names exactly one definition."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from astgen.codec.hole_select import select_holes
from astgen.errors import AstgenError, NoHoleError

IDIOMATIC = {
    "tuple annotation": "from typing import Tuple\nx: Tuple[int, ...] = ()\n",
    "callable parameter": "from typing import Callable\ndef f(g: Callable[..., int]) -> None:\n    pass\n",
    "return annotation": "def f() -> 'tuple[int, ...]':\n    pass\nT = tuple[int, ...]\n",
    "numpy-style index": "def f(a):\n    return a[..., 0]\n",
    "default value": "def f(x=..., *, y=...):\n    return x\n",
    "overload stubs": (
        "from typing import overload\n@overload\ndef f(x: int) -> int: ...\n@overload\n"
        "def f(x: str) -> str:\n    '''doc'''\n    ...\ndef f(x):\n    return x\n"
    ),
    "abstract method": ("import abc\nclass A(abc.ABC):\n    @abc.abstractmethod\n    def run(self) -> None: ...\n"),
    "protocol members": (
        "from typing import Protocol\nclass P(Protocol):\n    name: str = ...\n    def m(self) -> int: ...\n"
    ),
}


@pytest.mark.parametrize("source", IDIOMATIC.values(), ids=IDIOMATIC.keys())
def test_idiomatic_ellipses_are_not_holes(source: str) -> None:
    tree = ast.parse(source)
    assert select_holes(tree, source) == []
    everything = select_holes(tree, source, all_holes=True)
    assert everything and all(isinstance(n, ast.Constant) and n.value is Ellipsis for n in everything)


def test_real_holes_beside_idioms_are_found_in_source_order() -> None:
    source = "from typing import Tuple\ndef f(x: Tuple[int, ...] = ...):\n    y = ...\n    ...\n"
    holes = select_holes(ast.parse(source), source)
    assert [(n.lineno, n.col_offset) for n in holes] == [(3, 8), (4, 4)]


def test_a_pyi_file_has_no_holes_and_a_fill_comment_selects_exactly() -> None:
    source = "def f(x):\n    return ...\n"
    assert select_holes(ast.parse(source), source, "stub.pyi") == []
    marked = "def f(x):\n    a = ...\n    return ...  # astgen: fill\nT = tuple[int, ...]  # astgen: fill\n"
    lines = [n.lineno for n in select_holes(ast.parse(marked), marked)]
    assert lines == [3, 4]  # the marked lines only, an annotation included; line 2 is left alone
    text = "s = '# astgen: fill'\nx = ...\n"  # the marker inside a string is not a comment
    assert [n.lineno for n in select_holes(ast.parse(text), text)] == [2]


TREE = {
    "typed.py": (
        "from typing import Callable, Protocol, Tuple, TypeVar, overload\n"
        "import abc\n\n"
        "T = TypeVar('T')\n\n\n"
        "class Reader(Protocol):\n"
        "    def read(self, n: int = ...) -> bytes: ...\n\n\n"
        "class Base(abc.ABC):\n"
        "    @abc.abstractmethod\n"
        "    def run(self) -> None: ...\n\n\n"
        "@overload\n"
        "def first(x: Tuple[int, ...]) -> int: ...\n"
        "@overload\n"
        "def first(x: Callable[..., T]) -> T: ...\n"
        "def first(x):\n"
        "    return ...\n"
    ),
    "pkg/model.py": "def area(w, h):\n    # the one statement hole\n    ...\n",
    "pkg/stub.pyi": "def area(w: float, h: float) -> float: ...\n",
}


def _write(root: Path, files: dict[str, str]) -> dict[Path, str]:
    out = {}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out[path] = text
    return out


def _changed_lines(before: str, after: str) -> list[str]:
    a, b = before.splitlines(), after.splitlines()
    return [x for x in a if x not in b]


def test_library_fill_changes_only_the_two_real_holes(tiny_generator) -> None:  # type: ignore[no-untyped-def]
    from astgen.refactor import SamplingConfig, fill_file_bytes

    sampling = SamplingConfig(max_actions=12, seed=1)
    for name, text in TREE.items():
        if name.endswith(".pyi"):
            with pytest.raises(NoHoleError, match="idiomatic"):
                fill_file_bytes(tiny_generator, text.encode(), name, sampling)
            continue
        new = fill_file_bytes(tiny_generator, text.encode(), name, sampling).decode()
        gone = _changed_lines(text, new)
        assert gone == (["    return ..."] if name == "typed.py" else ["    ..."]), (name, new)
        assert new.count("...") == text.count("...") - 1
    everything = fill_file_bytes(tiny_generator, TREE["typed.py"].encode(), "t.py", sampling, all_holes=True)
    assert everything.decode().count("...") == 0  # --all-holes fills the idiomatic ones too


def test_cli_in_place_on_a_tree_changes_only_the_real_holes(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    files = _write(tmp_path / "src", TREE)
    r = subprocess.run(
        [sys.executable, "-m", "astgen", "infill", "--in-place", str(tmp_path / "src"), "--max-actions", "24"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "2 files, 2 with holes, 2 changed, 0 failed" in r.stderr  # folders are walked for *.py
    for path, before in files.items():
        after = path.read_text()
        expected = {"typed.py": ["    return ..."], "model.py": ["    ..."], "stub.pyi": []}[path.name]
        assert _changed_lines(before, after) == expected, (path.name, after)
        compile(after, str(path), "exec")
    only_idioms = _write(tmp_path / "idioms", {"typed.py": TREE["typed.py"].replace("return ...", "return x")})
    r = subprocess.run(
        [sys.executable, "-m", "astgen", "infill", "--check", str(tmp_path / "idioms")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert [p.read_text() for p in only_idioms] == list(only_idioms.values())


SELECT = (
    "from typing import overload\n\n\n"
    "def run(x):\n    return x + 1\n\n\n"
    "class Profile:\n    def run(self, cmd):\n        return cmd\n\n\n"
    "@overload\ndef first(x: int) -> int: ...\n@overload\ndef first(x: str) -> str: ...\n"
    "def first(x):\n    return x\n"
)


@pytest.mark.parametrize(("name", "changed"), [("run", "    return x + 1"), ("Profile.run", "        return cmd")])
def test_function_names_exactly_one_definition(tiny_generator, name: str, changed: str) -> None:  # type: ignore[no-untyped-def]
    from astgen.refactor import SamplingConfig, rewrite_function_bytes

    new = rewrite_function_bytes(tiny_generator, SELECT.encode(), name, "p.py", SamplingConfig(max_actions=12))
    assert _changed_lines(SELECT, new.decode()) == [changed]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("first", r"3 definitions of 'first' \(lines 14, 16, 17\)"),
        ("nope", "no function named 'nope'"),
        ("Other.run", r"definitions of that name: run \(line 4\), Profile.run \(line 9\)"),
    ],
)
def test_function_that_names_none_or_several_is_refused(tiny_generator, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    from astgen.refactor import rewrite_function_bytes

    with pytest.raises(AstgenError, match=message):
        rewrite_function_bytes(tiny_generator, SELECT.encode(), name, "p.py")


GENERATORS = (
    "def chunks(items, n):\n    '''Runs of n items.'''\n    for i in range(0, len(items), n):\n        yield items[i:i + n]\n\n\n"
    "async def ticks(n):\n    for i in range(n):\n        yield i\n\n\n"
    "def plain(x):\n    return x\n"
)


@pytest.mark.parametrize(("spec", "kind"), [("chunks", ast.FunctionDef), ("ticks", ast.AsyncFunctionDef)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rewriting_a_generator_keeps_it_a_generator(tiny_generator, spec: str, kind: type, seed: int) -> None:  # type: ignore[no-untyped-def]
    from astgen.codec.hole_scope import own_yields
    from astgen.refactor import SamplingConfig, rewrite_function_bytes

    sampling = SamplingConfig(temperature=1.0, seed=seed, max_actions=24)
    new = rewrite_function_bytes(tiny_generator, GENERATORS.encode(), spec, "g.py", sampling).decode()
    tree = ast.parse(new)
    [fn] = [n for n in tree.body if isinstance(n, kind) and n.name == spec]
    [plain] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "plain"]
    assert own_yields(fn) and not own_yields(plain), new
