# Set-up and everyday commands. Every target creates/updates the local virtual environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: quickstart test test-fast lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: a CPU build is available locally; an open range would pull CUDA wheels
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,generate]"
	touch $(STAMP)

quickstart: $(STAMP)  ## run the quickstart search (toy data, CWoLa, bump hunt, pyhf)
	$(BIN)/anomsearch run configs/quickstart.yaml

test: $(STAMP)  ## lint + the full test suite (as CI runs it)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the test suite without the slow end-to-end tests
	$(BIN)/python -m pytest -m "not slow"

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
