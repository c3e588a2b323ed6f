"""What a track's ``run`` gets besides the cell: seeds per axis, device, train-only timer, curves.

Seeds are derived per axis (``"init"``, ``"data"``, ``"sample"``...) from the cell seed only, never
from the method, so every method sees the same initialisation and data order for the same seed
and comparisons across methods are paired.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.errors import Diverged, HarnessError

_cpu_parts = threading.local()


def in_cpu_part() -> bool:
    """True inside ``RunContext.cpu_part``: work there is declared CPU-only (harness.engine.device_guard)."""
    return getattr(_cpu_parts, "depth", 0) > 0


def fork_rng(device: str = "cpu") -> Any:
    """``torch.random.fork_rng`` covering the CPU generator and, on ``cuda[:N]``, that GPU's."""
    import torch

    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    return torch.random.fork_rng(devices=devices)


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed the CPU generator for a model's initialisation, restoring it afterwards.

    Models are built on the CPU and then moved, so a CPU run and a GPU run start from the same
    weights; only the CPU generator is touched (``torch.manual_seed`` would also reseed every GPU's
    generator for good, outside the fork)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def device_of(module: Any) -> Any:
    """The device of a module's parameters: where its inputs must go."""
    return next(module.parameters()).device


def derive_seed(cell_seed: int, axis: str) -> int:
    """A 31-bit seed for one randomness axis, stable across processes and Python versions."""
    digest = hashlib.sha256(f"kexue-bench:{cell_seed}:{axis}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class RunContext:
    """Per-cell services for a track's training loop."""

    def __init__(self, seed: int, device: str = "cpu", precision: str = "fp32"):
        self.cell_seed = seed
        self.device = device
        self.precision = precision
        self.cpu_parts: list[str] = []  # what this cell declared CPU-only while on a GPU (provenance)
        self.train_seconds = 0.0
        self.samples_seen = 0
        self.curves: dict[str, list[list[float]]] = {}
        self.last_metrics: dict[str, float] = {}
        self.predictions: dict[str, Any] = {}  # split -> harness.prediction_files.Predictions

    def seed(self, axis: str) -> int:
        return derive_seed(self.cell_seed, axis)

    def generator(self, axis: str, device: str | None = None) -> Any:
        """A torch.Generator seeded for ``axis`` (on CPU unless ``device`` is given)."""
        import torch

        g = torch.Generator(device=device or "cpu")
        g.manual_seed(self.seed(axis))
        return g

    def seed_everything(self, axis: str = "init") -> None:
        """Seed torch/numpy/random globally for code that does not take a generator."""
        import random

        import numpy as np
        import torch

        s = self.seed(axis)
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)

    @property
    def on_cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    def fork_rng(self) -> Any:
        """``torch.random.fork_rng`` over the CPU and this cell's GPU: a reseed inside (e.g. a model's
        init) leaks into neither generator afterwards, so dropout draws match the CPU run's order."""
        return fork_rng(self.device)

    @contextmanager
    def cpu_part(self, what: str) -> Iterator[None]:
        """Declare the body CPU-only (e.g. building a cached artifact that every device shares): it is
        named in the result's provenance on a GPU run, and ``harness.engine.device_guard`` does not count it."""
        if self.on_cuda and what not in self.cpu_parts:
            self.cpu_parts.append(what)
        _cpu_parts.depth = getattr(_cpu_parts, "depth", 0) + 1
        try:
            yield
        finally:
            _cpu_parts.depth -= 1

    @contextmanager
    def train_timer(self):
        """Accumulate wall time spent training (evaluation and data loading excluded)."""
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.train_seconds += time.perf_counter() - t0

    def _sync(self) -> None:
        """Wait for queued GPU work, so the timer measures it; never the first CUDA call of a process
        (a cell that has not touched the GPU has nothing queued, and a CUDA context costs ~0.5 GiB)."""
        if self.on_cuda:
            import torch

            if torch.cuda.is_initialized():
                torch.cuda.synchronize(self.device)

    def check_finite(self, value: float, what: str = "loss", step: int | None = None) -> float:
        """Raise Diverged (with the last finite metrics) when ``value`` is NaN or infinite."""
        value = float(value)
        if not math.isfinite(value):
            at = f" at step {step}" if step is not None else ""
            raise Diverged(f"{what} became {value}{at}", self.last_metrics)
        return value

    def log(self, name: str, step: int, value: float) -> None:
        """Record one point of a learning curve (kept in the result file)."""
        self.curves.setdefault(name, []).append([int(step), float(value)])

    def remember(self, **metrics: float) -> None:
        """Keep the latest finite metrics so a later divergence still reports them."""
        self.last_metrics.update({k: float(v) for k, v in metrics.items()})

    def record_predictions(self, predicted: Any, labels: Any, ids: Any = None, split: str = "test") -> None:
        """Keep one split's per-example predictions (stored beside the result as ``<key>.pred.npz``).

        ``predicted`` and ``labels`` are integer classes, one per example (lists, numpy arrays or
        torch tensors on any device); ``ids`` name the examples within the dataset's split (default
        0..n-1), so that a method scored on a subset is compared with others on the same examples.
        Why: with them, two methods on the same examples can be tested per example (McNemar) and a
        leaderboard delta never mixes example sets. A second call for the same split replaces the first.
        """
        from harness.prediction_files import make_predictions

        if not split.replace("_", "").isalnum():
            raise HarnessError(f"record_predictions: split must be a plain name like 'test', got {split!r}")
        self.predictions[split] = make_predictions(predicted, labels, ids)
