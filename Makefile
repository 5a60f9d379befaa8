# Two commands from a fresh clone: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint types contracts pytest dockerlint validate clean

# The venv is rebuilt whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The daemon on this repository's committed manifests, against the local cloud; Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/reconciler validate manifests/
	$(BIN)/reconciler run --repo . --path manifests/ --interval 10s --drift-interval 1m

validate: $(STAMP)
	$(BIN)/reconciler validate manifests/

test: lint types contracts dockerlint pytest

lint: $(STAMP)
	$(BIN)/ruff check reconciler tests
	$(BIN)/ruff format --check reconciler tests

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

dockerlint: $(STAMP)
	$(BIN)/hadolint Dockerfile

# The domain is held to full branch coverage; the package as a whole to 85%.
pytest: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term
	$(BIN)/coverage report --include='reconciler/domain/*' --fail-under=100

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache .pytest_cache
