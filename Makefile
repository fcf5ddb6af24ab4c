# make venv  - create .venv from nothing and install nntune with its test extra (idempotent)
# make demo  - train and gradient-check a small network on a built-in dataset
# make test  - lint, format check, type check and the whole test suite
# make bench - nntune against its peers, each in its own process (see benchmarks/README.md)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nntune-installed

.PHONY: venv demo test lint typecheck pytest bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

demo: venv
	$(BIN)/python examples/quickstart.py
	$(BIN)/nntune gradcheck --data moons --layers 10,5 --batch-norm --l2 0.7

lint: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
