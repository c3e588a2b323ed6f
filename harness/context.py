"""What a track's ``run`` gets besides the cell: seeds per axis, device, train-only timer, curves.

Seeds are derived per axis (``"init"``, ``"data"``, ``"sample"``...) from the cell seed only, never
from the method, so every method sees the same initialisation and data order for the same seed
and comparisons across methods are paired.
"""

from __future__ import annotations

import hashlib
import math
import time
from contextlib import contextmanager
from typing import Any

from harness.errors import Diverged, HarnessError


def derive_seed(cell_seed: int, axis: str) -> int:
    """A 31-bit seed for one randomness axis, stable across processes and Python versions."""
    digest = hashlib.sha256(f"kexue-bench:{cell_seed}:{axis}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


class RunContext:
    """Per-cell services for a track's training loop."""

    def __init__(self, seed: int, device: str = "cpu"):
        self.cell_seed = seed
        self.device = device
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
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize()

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
