# Two entry points, as in the README: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: a CPU build; the project then declares torch>=2.3, which it satisfies
	$(BIN)/pip install -q torch==2.13.0

setup: $(BIN)/python
	# (the filter hides setuptools' note that an editable install maps astgen.grammars with a meta path finder)
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e ".[dev,train]"

demo: setup
	$(BIN)/astgen demo

test: setup
	$(BIN)/python -m pytest -q -n 2

lint: setup
	$(BIN)/ruff check astgen tests training benchmarks docs
	$(BIN)/mypy astgen

bench: setup
	$(BIN)/python -m benchmarks.bench_matcher

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
