# make demo  - nntune's main job: the recipe (baseline, diagnose, fix, tune, test once)
#              on the digits, in under 5 minutes; installs only nntune with its plots
#              and tune extras (matplotlib, Optuna) into .venv
# make test  - lint, format check, layer contracts, type check and the whole suite;
#              adds the test extra (PyTorch, JAX, Playwright, mypy...) to the same .venv
# make bench - whole training runs: nntune against every peer, each in its own process
#              (benchmarks/README.md); make bench-quick, smaller runs, in under 2
#              minutes; adds the bench extra
# make venv  - .venv with the test extra (what make test uses), and nothing else
#
# One .venv, one stamp file per extra: `make demo` then `make test` adds the test
# tools in place, and a changed pyproject.toml reinstalls.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STAMP := $(VENV)/.nntune-demo
TEST_STAMP := $(VENV)/.nntune-test
BENCH_STAMP := $(VENV)/.nntune-bench

.PHONY: venv browser postgres demo test lint typecheck pytest bench bench-quick bench-step clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plots,tune]"
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[plots,bench]"
	touch $@

venv: $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/nntune recipe --data digits --budget 4m --out runs/demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# The report test renders HTML in Debian's headless Chromium (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report's browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	}

# The PostgreSQL study test starts its own server from Debian's binaries, which keeps
# them in /usr/lib/postgresql/VERSION/bin, off PATH.
postgres:
	@{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
	  echo "installing Debian's postgresql for the study storage test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	}

pytest: $(TEST_STAMP) browser postgres
	$(BIN)/python -m pytest -n auto

test: lint typecheck pytest

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/fit_bench.py

bench-quick: $(BENCH_STAMP)
	$(BIN)/python benchmarks/fit_bench.py --quick

bench-step: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
