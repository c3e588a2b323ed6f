"""The GPU path on a real GPU (skipped without one): every track's smoke cells on CPU and GPU, the
primary metric within the track's ``device_tolerance``, training recorded on the GPU.

``pytest -k device`` runs these with test_device.py; on a machine without CUDA they are skipped.
"""

from __future__ import annotations

import pytest
import torch

from harness.engine.runner import run_cell
from harness.registry import REGISTRY
from harness.suite import expand, load_suite, with_precision
from harness.track import within_device_tolerance

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TRACKS = ("igr", "weightreg", "imbalance", "tokenization", "fewshot", "embdim", "vae", "dialogue")


@pytest.mark.parametrize("track", TRACKS)
def test_device_gpu_matches_cpu_within_tolerance(track):
    cls = REGISTRY.get("track", track).load()
    off = []
    for cell in expand(load_suite("smoke"), [track], None, None, 1):
        cpu = run_cell(cell, device="cpu", threads=2)
        gpu = run_cell(cell, device="cuda", threads=2)
        assert cpu["status"] == gpu["status"] == "ok", f"{cell.describe()}: {cpu['error']} | {gpu['error']}"
        assert gpu["provenance"]["device"] == "cuda" and gpu["provenance"]["gpu"]["peak_allocated"] > 0
        a, b = cpu["metrics"][cls.primary], gpu["metrics"][cls.primary]
        if not within_device_tolerance(cls, a, b):
            off.append(f"{cell.describe()}: cpu {a:.4f} gpu {b:.4f}")
    assert not off, f"outside {cls.device_tolerance}: " + "; ".join(off)


@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_device_gpu_precisions_run_the_causal_lm(precision):
    if precision == "tf32" and torch.cuda.get_device_capability()[0] < 8:
        pytest.skip("tf32 needs compute capability 8.0+")
    cells = expand(load_suite("smoke"), ["fewshot"], ["pet"], None, 1)
    cells = [c for c in cells if c.settings.get("backbone") == "tiny-random-qwen2"]
    for cell in with_precision(cells, precision):
        rec = run_cell(cell, device="cuda", threads=2)
        assert rec["status"] == "ok", rec["error"]
        assert rec["provenance"]["precision"] == precision and rec["provenance"]["device"] == "cuda"


def test_device_gpu_cuda_oom_is_oom_and_memory_is_given_back():
    from harness.engine.cell import Cell

    cell = Cell("fake", "const", {"offset": 1.0}, "cuda-oom", {}, {"sleep": 0.0, "memory_mb": 0.0}, 0, "smoke")
    before = torch.cuda.memory_reserved()
    rec = run_cell(cell, device="cuda", threads=1)
    assert rec["status"] == "oom" and torch.cuda.memory_reserved() <= before
