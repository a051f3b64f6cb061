# Every target builds or refreshes .venv itself, so each works on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run demo test lint typecheck pytest bench clean venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make run: start the bot (polling; SQLite by default). Needs ORBITWIRE_BOT_TOKEN.
run: $(STAMP)
	$(VENV)/bin/orbitwire run

## make demo: offline tour, no token needed.
demo: $(STAMP)
	$(VENV)/bin/orbitwire demo

## make test: ruff, mypy and the whole pytest suite.
test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -q

## make bench: every benchmark in benchmarks/; figures go to docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m benchmarks --write

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
