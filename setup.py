"""Package discovery: every package under astgen/ (namespace folders such as astgen/checkpoints
included, so their data is installed as package data), plus the top-level grammars/ folder installed
as `astgen.grammars`.  Everything else about the project is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["astgen", "astgen.*"], exclude=["*.__pycache__"]),
        "astgen.grammars",
    ],
    package_dir={"astgen.grammars": "grammars"},
)
