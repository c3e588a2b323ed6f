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


# --- loop services: a training loop that never waits for the device per step ---------------------
# Steps between the host's reads of a loop's finite watch (and of a track's own device-side masks):
# one transfer per this many steps, so a NaN costs at most this many wasted steps, never a sync per step.
CHECK_EVERY = 50


def stack_key(cell: Any) -> str:
    """What cells must share to train as one stack: track, dataset, protocol settings, precision (a
    track's ``group_key`` adds what else it needs equal). Torch-free, as the planner needs."""
    import json

    fields = (cell.track, cell.dataset, cell.dataset_params, cell.settings, cell.precision)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)


def only_result(results: list[Any]) -> Any:
    """The one entry of a ``run_group`` over a single cell, raised when it is the exception that ended
    it: a track whose ``run`` is its group of one keeps ``run``'s contract (metrics or an exception)."""
    (out,) = results
    if isinstance(out, BaseException):
        raise out
    return out


class LoopClock:
    """The training time of one loop, with no device synchronisation per step: CUDA events on a GPU
    (read once, at the end), ``perf_counter`` on a CPU. ``paused()`` leaves out what the loop does
    besides training (a validation pass), as ``RunContext.train_timer`` left out evaluation."""

    def __init__(self, device: str = "cpu"):
        self.cuda = str(device).startswith("cuda")
        self.spans: list[tuple[Any, Any]] = []
        self._start: Any = None

    def _mark(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def start(self) -> None:
        self._start = self._mark()

    def stop(self) -> None:
        if self._start is not None:
            self.spans.append((self._start, self._mark()))
            self._start = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    def seconds(self) -> float:
        """Seconds of the spans so far (the one wait for the device, on a GPU: its last event)."""
        self.stop()
        if not self.spans:
            return 0.0
        if self.cuda:
            self.spans[-1][1].synchronize()
            return sum(a.elapsed_time(b) for a, b in self.spans) / 1000.0
        return sum(b - a for a, b in self.spans)


class FiniteWatch:
    """Which of K members' values turned NaN or infinite, and at which step: found on the device over
    a block of recorded steps at a time (a few operations per block, none per step), read on the host
    in one transfer when asked."""

    def __init__(self, members: int, device: str = "cpu"):
        import torch

        self.first_bad = torch.full((members,), -1, dtype=torch.long, device=device)

    def scan(self, first_step: int, rows: Any) -> None:
        """Look at ``rows`` ``[steps, K]``, the values of steps ``first_step, first_step + 1, ...``."""
        import torch

        bad = ~torch.isfinite(rows)
        new = bad.any(0) & (self.first_bad < 0)
        at = bad.to(torch.uint8).argmax(0) + first_step  # argmax: the first bad row
        self.first_bad = torch.where(new, at, self.first_bad)

    def read(self) -> list[int | None]:
        """Each member's first non-finite step (None while all its values were finite)."""
        return [s if s >= 0 else None for s in self.first_bad.tolist()]


class TrainLoop:
    """The bookkeeping of one training loop over K members (K = 1 for a single cell), kept off the host.

    Per-step values (losses...) go to (steps x members) buffers on the device; every ``every`` steps
    (``poll``) a ``FiniteWatch`` scans the first name's new rows and is read, so a loop can stop once
    every member has diverged; one ``LoopClock`` times the loop and each member's ``train_seconds`` gets its share.
    After the loop, ``host_values`` reads the buffers once, and the track replays them through each
    member's ``RunContext`` (curves, ``remember``, ``check_finite`` raising ``Diverged`` at the first bad
    step): the bookkeeping a per-step loop did, with the same outcome, without its host syncs.
    """

    def __init__(
        self,
        ctxs: list[Any],
        steps: int,
        names: tuple[str, ...],
        device: str,
        every: int = CHECK_EVERY,
        timed: list[Any] | None = None,
    ):
        import torch

        self.ctxs = ctxs
        self.timed = ctxs if timed is None else timed  # who shares the loop's time (cells sharing a training too)
        self.names = names
        self.every = max(1, int(every))
        rows = max(1, int(steps))
        self.buffers = {n: torch.full((rows, len(ctxs)), math.nan, device=device) for n in names}
        self.watch = FiniteWatch(len(ctxs), device)
        self.clock = LoopClock(device)
        self.bad_steps: list[int | None] = [None] * len(ctxs)
        self.recorded = self.scanned = 0  # rows written, rows the watch has looked at

    def __enter__(self) -> TrainLoop:
        self.clock.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        seconds = self.clock.seconds()
        for ctx in self.timed:  # each cell's share of the loop's time
            ctx.train_seconds += seconds / len(self.timed)

    def record(self, step: int, **values: Any) -> None:
        """Keep this step's value of each name (one per member, or one number for a single cell)."""
        for name, value in values.items():
            self.buffers[name][step] = value.detach()
        self.recorded = max(self.recorded, step + 1)

    def due(self, step: int) -> bool:
        """Whether the host reads the device after ``step`` (every ``every`` steps)."""
        return (step + 1) % self.every == 0

    def poll(self, extra: Any = None) -> tuple[list[bool], list[int]]:
        """Read the watch, and a track's own per-member integers (``extra``: e.g. the step each member
        reached its target at), in one transfer: which members are still finite, and ``extra``."""
        import torch

        if self.recorded > self.scanned:
            self.watch.scan(self.scanned, self.buffers[self.names[0]][self.scanned : self.recorded])
            self.scanned = self.recorded
        first = self.watch.first_bad
        both = first if extra is None else torch.cat([first, extra.to(first.dtype)])
        values = both.tolist()
        self.bad_steps = [s if s >= 0 else None for s in values[: len(first)]]
        return [s is None for s in self.bad_steps], values[len(first) :]

    def host_values(self, steps: int | None = None) -> dict[str, list[list[float]]]:
        """Name -> per member, its values of the first ``steps`` steps (all by default), read at once."""
        import torch

        rows = slice(0, steps)
        stacked = torch.stack([self.buffers[n][rows] for n in self.names]).cpu()  # (names, steps, members)
        return {n: stacked[i].T.tolist() for i, n in enumerate(self.names)}
