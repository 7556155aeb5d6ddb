# forwardkit: `make demo` and `make test` set everything up on a fresh machine by themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := $(sort $(patsubst plugins/%/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.forwardkit-installed
JOBS ?= 2

.PHONY: setup demo test lint typecheck pytest docs docs-serve sync bench bench-overhead bench-metaformer bench-kernels bench-compile bench-list bad-inputs kill-trials notebooks wheelhouse suite-seconds clean

export NO_MKDOCS_2_WARNING := 1
export DISABLE_MKDOCS_2_WARNING := true

setup: $(STAMP)

# One editable install of the core (with dev tools) and of every plugin, pinned by constraints.txt.
$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e ".[dev]" $(foreach p,$(PLUGINS),-e plugins/$(p)) 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -c "import forwardkit, torch" 
	touch $(STAMP)

# The main job: the token-mixer bake-off (every installed mixer in the builtin metaformer, on digits).
demo: setup
	$(VENV)/bin/forwardkit run

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest -n $(JOBS) -q

test: setup lint typecheck pytest

# The suite's test-seconds per plugin (kit, own tests, smoke reproduction; see conftest.py), kept in
# benchmarks/results/ (every `make test` writes build/suite-seconds.json and enforces the per-plugin budget).
suite-seconds: setup
	$(VENV)/bin/pytest -n $(JOBS) -q --suite-seconds benchmarks/results/suite_seconds.json

docs: setup
	$(VENV)/bin/mkdocs build --strict

docs-serve: setup
	$(VENV)/bin/mkdocs serve

# Every installed token mixer (and the attention baseline) at the default sizes: table, JSON, log-log plot.
# Scaling benchmarks of every installed mixer (a few minutes); the docs' Benchmarks page shows the kept results.
bench: setup
	$(VENV)/bin/forwardkit bench mixers --out benchmarks/results/mixers
	$(VENV)/bin/forwardkit bench channel-mixers --out benchmarks/results/channel-mixers
	$(MAKE) bench-metaformer

# forwardkit's MetaFormer blocks and the five presets against a straightforward NCHW reference (1x1 Conv2d,
# channels-last strides), batch 8/16/32 on 1 and 2 threads (about 40 minutes): benchmarks/results/metaformer_speed.json.
bench-metaformer: setup
	$(PY) benchmarks/metaformer_speed.py --out benchmarks/results/metaformer_speed.json

# The kernel measurements behind forwardkit.nn's CPU dispatch (pointwise, depthwise, GroupNorm1; ~40 minutes).
bench-kernels: setup
	$(PY) benchmarks/cpu_kernels.py --out benchmarks/results/cpu_kernels.json

# trainer.compile: steady-state step time with and without torch.compile, and the compile time (~15 minutes).
bench-compile: setup
	$(PY) benchmarks/compile_speedup.py --out benchmarks/results/compile_speedup.json

# `forwardkit list --json` with the installed plugins and with 56 light plugins more (seconds).
bench-list: setup
	$(PY) benchmarks/list_timing.py --out benchmarks/results/list_timing.json

# The generated bad-input corpus through `forwardkit validate` (seconds; the suite runs it too).
bad-inputs: setup
	$(PY) benchmarks/bad_inputs.py --out benchmarks/results/bad_inputs.json

# A kill at every file operation of every checkpoint write, then --resume (about half a minute).
kill-trials: setup
	$(PY) benchmarks/kill_trials.py --out benchmarks/results/kill_trials.json

# Long measurement (about a minute): forwardkit's trainer against a hand-written loop.
bench-overhead: setup
	$(PY) benchmarks/trainer_overhead.py --out benchmarks/results/trainer_overhead.json

notebooks: setup
	$(PY) tools/make_notebooks.py

sync: setup
	$(PY) tools/sync_plugins.py

# Wheels of the core and of every plugin in wheelhouse/, for installs outside the repository:
#   pip install --find-links wheelhouse "forwardkit[<slug>]"     (tools/wheelhouse.py; the tests run it too)
wheelhouse: setup
	$(PY) tools/wheelhouse.py --out wheelhouse

clean:
	rm -rf $(VENV) site build dist wheelhouse .pytest_cache .mypy_cache .ruff_cache
