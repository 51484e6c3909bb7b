# Set-up and everyday commands. Every target creates/updates the local virtual environment first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The documentation site, built strictly (every warning is an error) into site/.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

.PHONY: quickstart test test-fast lint format clean docs docs-config

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: a CPU build is available locally; an open range would pull CUDA wheels
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,generate,dask,docs]"
	touch $(STAMP)

quickstart: $(STAMP)  ## run the quickstart search (toy data, CWoLa, bump hunt, pyhf)
	$(BIN)/anomsearch run configs/quickstart.yaml

test: $(STAMP)  ## lint + strict docs build + the full test suite incl. the browser test (as CI runs it)
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(MKDOCS) --quiet
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the test suite without the slow end-to-end tests
	$(BIN)/python -m pytest -m "not slow"

docs: $(STAMP)  ## build the documentation site into site/ (strict: warnings are errors)
	$(MKDOCS)

docs-config: $(STAMP)  ## re-render docs/config.md from the config schema and the methods
	$(BIN)/anomsearch config-reference -o docs/config.md

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) results site .pytest_cache .ruff_cache
