# Two commands for a newcomer:
#   make run   set everything up and run Tethra on the embedded defaults
#   make test  the whole test suite: ruff, mypy --strict, import layers, pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup run serve test lint typecheck layers pytest bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/tethra init
	$(BIN)/tethra chat

serve: setup
	$(BIN)/tethra init
	$(BIN)/tethra serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

layers: setup
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest

test: lint typecheck layers pytest

bench: setup
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/invoices.py

clean:
	rm -rf $(VENV) .tethra .mypy_cache .ruff_cache .pytest_cache
