# Two commands do everything on a fresh machine with Python 3.11+ and make:
#   make demo   one collection against the bundled Exalate node simulator, and what it produced
#   make test   ruff, then the whole test suite (unit and integration, real servers on loopback)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit integration docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/exalate-collector demo

test: lint $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

docs: $(STAMP)
	$(BIN)/exalate-collector docs > docs/telemetry.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache exalate-archive .aws-sam
