"""Static module attribute tables (`astgen.codec.module_names`): what a module has, read without
running it, and which names of a file always refer to one module."""

from __future__ import annotations

import ast
import glob
import importlib
import os
import random
import sysconfig
from pathlib import Path

import pytest

from astgen.codec.module_names import module_aliases, module_attributes

STDLIB = ["os", "sys", "json", "collections", "typing", "math", "argparse", "pathlib", "functools", "subprocess"]


@pytest.mark.parametrize("name", STDLIB)
def test_module_attributes_cover_what_the_imported_module_has(name: str) -> None:
    """Every attribute the imported module has is in its static table (a superset: conditional
    bindings of other platforms count too); a module that makes attributes on demand (a module-level
    `__getattr__`: `typing` from Python 3.13 on) has no table."""
    module = importlib.import_module(name)
    table = module_attributes(name)
    if callable(module.__dict__.get("__getattr__")):
        assert table is None
    else:
        assert table is not None
        assert set(dir(module)) <= table


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"m.py": "def __getattr__(name):\n    return name\n"}, None),  # attributes made on demand
        ({"m.py": "globals()['x'] = 1\n"}, None),
        ({"m.py": "from nowhere_at_all import *\n"}, None),  # an unconditional star import not found
        ({"m.py": "try:\n    from nowhere_at_all import *\nexcept ImportError:\n    y = 1\n"}, {"y"}),
        ({"m.py": "from other import *\nz = 1\n", "other.py": "__all__ = ['a']\na = b = 1\n"}, {"a", "z"}),
        ({"m.py": "from other import *\n", "other.py": "a = _b = 1\n"}, {"a"}),
        ({"m.py": "import json as j\nif j:\n    def f(): pass\nclass C: pass\n"}, {"j", "f", "C"}),
        ({"m.py": "def g():\n    global w\n    w = 1\n"}, {"g", "w"}),
    ],
)
def test_module_attributes_of_a_source_module(tmp_path: Path, files: dict[str, str], expected: set[str] | None) -> None:
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    table = module_attributes("m", [str(tmp_path)])
    if expected is None:
        assert table is None
    else:
        assert table is not None
        assert {n for n in table if not n.startswith("__")} == expected
        assert {"__name__", "__doc__", "__dict__"} <= table


def test_module_attributes_of_a_package_list_its_submodules(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "mod.py").write_text("y = 2\n")
    (pkg / "sub" / "__init__.py").write_text("")
    table = module_attributes("pkg", [str(tmp_path)])
    assert table is not None and {"x", "mod", "sub", "__path__"} <= table
    assert module_attributes("pkg.mod", [str(tmp_path)]) is not None
    assert module_attributes("pkg.missing", [str(tmp_path)]) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nimport numpy as np\n", [("np", "numpy"), ("os", "os")]),
        ("import os.path\n", [("os", "os")]),
        ("import xml.etree.ElementTree as ET\n", [("ET", "xml.etree.ElementTree")]),
        ("from json import decoder\nfrom json import loads\n", [("decoder", "json.decoder")]),
        ("import os\ndef f(os):\n    return os\n", []),  # a parameter rebinds it
        ("import os\nos = None\n", []),
        ("try:\n    import json\nexcept ImportError:\n    json = None\n", []),
        ("import json as j\nimport pickle as j\n", []),  # two modules under one name
        ("def f():\n    import os\n    return os\n", []),  # a local import
    ],
)
def test_module_aliases(source: str, expected: list[tuple[str, str]]) -> None:
    assert list(module_aliases(ast.parse(source))) == expected


def test_module_attributes_hold_the_attributes_real_code_reads() -> None:
    """On a seeded sample of standard-library files, nearly every `alias.attr` read of a module alias
    with a known table names an attribute in it (the rest: other platforms' names such as
    `os.O_BINARY`, names set at run time such as `sys.ps1`)."""
    lib = sysconfig.get_path("stdlib", vars={"installed_base": os.sys.base_prefix, "base": os.sys.base_prefix})
    files = sorted(f for f in glob.glob(f"{lib}/*.py"))
    reads = misses = 0
    for path in random.Random(0).sample(files, 60):
        try:
            tree = ast.parse(Path(path).read_bytes())
        except SyntaxError:
            continue
        aliases = dict(module_aliases(tree))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                table = module_attributes(aliases[node.value.id])
                if table is not None:
                    reads += 1
                    misses += node.attr not in table
    assert reads > 500
    assert misses / reads < 0.02
