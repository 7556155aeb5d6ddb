# forwardkit: `make demo` and `make test` set everything up on a fresh machine by themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := $(sort $(patsubst plugins/%/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.forwardkit-installed
JOBS ?= 2

.PHONY: setup demo test lint typecheck pytest docs docs-serve sync clean

setup: $(STAMP)

# One editable install of the core (with dev tools) and of every plugin, pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e ".[dev]" $(foreach p,$(PLUGINS),-e plugins/$(p)) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -c "import forwardkit, torch" 
	touch $(STAMP)

demo: setup
	$(VENV)/bin/forwardkit --version
	$(PY) examples/compose_demo.py

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -n $(JOBS) -q

test: setup lint typecheck pytest

docs: setup
	$(VENV)/bin/mkdocs build --strict

docs-serve: setup
	$(VENV)/bin/mkdocs serve

sync: setup
	$(PY) tools/sync_plugins.py

clean:
	rm -rf $(VENV) site build dist wheelhouse .pytest_cache .mypy_cache .ruff_cache
