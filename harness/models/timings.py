"""Measured speed of the paper networks per device: what the cost of a paper cell is computed from.

Why measured, not modelled: a ResNet's epoch time on a GPU depends on kernels, memory format and
precision far more than on its multiply-adds, and the paper suite is priced before anything is
spent. ``benchmarks/bench_paper_models.py`` times training steps (forward, backward, update, the
on-device augmentation) and evaluation batches of each network on random data of CIFAR's shape on
the device at hand, and records images per second here, in ``paper_timings.json`` (committed),
keyed by network, device name (``torch.cuda.get_device_name``, or ``CPU <model> x<threads>``) and
``--precision``. A device that is not in the table is "not measured": the estimate says so instead
of guessing.

Reading the table imports nothing heavy (``harness run --dry-run`` prices blocks with it); the GPU
names of this machine come from ``nvidia-smi``, never from initialising CUDA.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("paper_timings.json")


@lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    """{"<network>": {"<device>": {"<precision>": {"train_images_per_s", "eval_images_per_s", ...}}}}."""
    if not TABLE.is_file():
        return {}
    return json.loads(TABLE.read_text(encoding="utf-8"))


def record(network: str, device: str, precision: str, entry: dict[str, Any], path: Path = TABLE) -> None:
    """Store one measurement (the benchmark's writer), replacing an older one of the same key."""
    table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    table.setdefault(network, {}).setdefault(device, {})[precision] = entry
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    load_table.cache_clear()


def cpu_name(threads: int = 1) -> str:
    """``CPU <model name> x<threads>``: the key of a CPU measurement (cores matter, so they are in it)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU {model} x{threads}"


def local_gpu_names() -> list[str]:
    """The GPUs of this machine by name, from ``nvidia-smi`` (empty without one); no CUDA context."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def measured_devices(network: str) -> list[str]:
    return sorted(load_table().get(network, {}))


def seconds(network: str, device: str, precision: str, train_images: float, eval_images: float) -> float | None:
    """Seconds to train on ``train_images`` images and evaluate ``eval_images`` on ``device`` in
    ``precision``; None when that combination was never measured. A CPU device matches any
    measured CPU when its own model is not in the table (a rough figure beats none for a CPU)."""
    by_device = load_table().get(network, {})
    entry = by_device.get(device, {}).get(precision)
    if entry is None and device.startswith("CPU"):
        cpus = [d[precision] for name, d in sorted(by_device.items()) if name.startswith("CPU") and precision in d]
        entry = cpus[0] if cpus else None
    if entry is None:
        return None
    return train_images / entry["train_images_per_s"] + eval_images / entry["eval_images_per_s"]


# Bytes autograd keeps per training image for the backward pass, measured on the CPU with
# torch.autograd.graph.saved_tensors_hooks over a batch of 64 in training mode (fp32, torch 2.13):
# ResNet-32's 36x36 first stage makes it ten times the Wide-ResNet's.
SAVED_BYTES_PER_IMAGE = {"resnet32": 6_051_095, "wrn-10-1": 607_326}
IMAGE_BYTES = 3 * 32 * 32 * 4  # one CIFAR image as float32
_BASE = 512 * 1024**2  # interpreter, torch, allocator slack


def memory_bytes(network: str, images: int, batch: int, grad_rows: int, eval_rows: int) -> tuple[int, int]:
    """(host bytes, GPU bytes) one paper cell needs at its peak, from sizes rather than a GPU run:
    the dataset as float32 on the device (three copies on the host while it is built), a training
    batch's saved activations, ``grad_rows`` rows whose gradient or Hessian-vector products keep
    their activations (x3 for a double backward), and ``eval_rows`` rows of a forward pass without
    gradients (a few layers' outputs alive at once: a sixteenth of what training keeps)."""
    act = SAVED_BYTES_PER_IMAGE[network]
    data = images * IMAGE_BYTES
    work = batch * act + 3 * grad_rows * act + eval_rows * act // 16
    return _BASE + 3 * data + work, _BASE + data + work
