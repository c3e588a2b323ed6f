"""A test-only track whose methods succeed, diverge, raise, crash their process (SIGKILL, as the
out-of-memory killer does), hang, work on the cell's device or run out of GPU memory, and declare as
much memory as a test asks.

With the block setting ``groups = true`` its cells form cell groups (``Track.group_key``; at most 4 a
group), ``plain`` and ``shares`` of one seed share their training (``Track.shared_training``), and
``run_group`` trains a group once (one ``sleep``) and gives each member the metrics it gets alone;
``big-group`` raises MemoryError from a group of more than two, ``crash-group`` SIGKILLs a worker
running a group of two or more, and ``reject-group``'s group key is refused (HarnessError).

Every training writes a marker file ``train.<run key>.<pid>.<ns>`` (and every group a marker
``group.<first key>.<pid>.<ns>``) under ``$KEXUE_BENCH_FAKE_MARKERS`` when that is set, so tests
count what was computed, and by which process.

Loaded through KEXUE_BENCH_PLUGINS so that worker subprocesses see it too.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from harness.claims import SmallestEffect, paired_better
from harness.errors import HarnessError
from harness.registry import REGISTRY, dataset, method, track
from harness.track import Metric, Track


@dataclass
class FakeSettings:
    sleep: float = 0.0
    memory_mb: float = 0.0  # declared memory of every cell (0: the default)
    groups: bool = False  # cells group (group_key), and plain/shares share their training
    pays_on_cpu: bool = False  # --group auto groups them on a CPU too


def _mark(kind: str, key: str) -> None:
    folder = os.environ.get("KEXUE_BENCH_FAKE_MARKERS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, f"{kind}.{key}.{os.getpid()}.{time.time_ns()}"), "w").close()


@track("fake")
class FakeTrack(Track):
    """A track for engine tests."""

    primary = "score"
    metrics = (Metric("score", True, "score"),)
    Settings = FakeSettings
    settings_bounds = {"sleep": (0.0, None), "memory_mb": (0.0, None)}
    recipe_type = str

    max_group_size = 4

    def run(self, cell, ctx):
        with ctx.train_timer():
            time.sleep(self.settings(cell).sleep)
        _mark("train", cell.key)
        return self._outcome(cell, ctx)

    def _outcome(self, cell, ctx):
        """A cell's metrics (or its exception) once trained: the same alone and in a group."""
        behaviour = self.recipe(cell)
        base = self.load_data(cell)["offset"] + 0.01 * cell.seed
        if behaviour == "nan":
            ctx.remember(score=base)
            ctx.check_finite(float("nan"), "loss", step=3)
        if behaviour == "raise":
            raise RuntimeError("boom")
        if behaviour == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if behaviour == "hang":
            time.sleep(600)
        if behaviour in ("on-device", "cuda-oom"):
            import torch

            torch.ones(4).to(ctx.device)  # some of the cell's work on its device
            if behaviour == "cuda-oom":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if behaviour == "jitter":  # a noisy arm: shift plus seed noise with sd 0.1 (sequential-design tests)
            noise = np.random.default_rng(ctx.seed("noise")).normal(0.0, 0.1)
            return {"score": base + cell.method_params["shift"] + float(noise)}
        if behaviour.startswith("predicts"):  # per-example predictions: 6 examples, ids 10..15
            ctx.record_predictions(np.array([0, 1, 1, 0, 2, cell.seed % 3]), [0, 1, 0, 0, 2, 1], ids=range(10, 16))
            if behaviour == "predicts-raise":
                raise RuntimeError("failed after predicting")
        return {"score": base + (0.5 if behaviour == "good" else 0.0) + cell.method_params.get("tau", 0.0)}

    def group_key(self, cell):
        if not self.settings(cell).groups:
            return None
        if cell.method == "reject-group":
            raise HarnessError("reject-group cells cannot be grouped (test track)")
        return f"{cell.dataset}:{sorted(cell.dataset_params.items())}:{self.settings(cell).sleep}"

    def group_pays_on_cpu(self, cell):
        return self.settings(cell).pays_on_cpu

    def shared_training(self, cell):
        """plain's training, on this dataset under these settings (everything but the seed)."""
        if not (self.settings(cell).groups and cell.method in ("plain", "shares")):
            return None
        return f"plain:{cell.dataset}:{sorted(cell.dataset_params.items())}:{sorted(cell.settings.items())}"

    def group_cost_factor(self, cells):
        return 1.0 / len(cells)  # one sleep for the whole group

    def run_group(self, cells, ctxs):
        _mark("group", cells[0].key)
        behaviours = {self.recipe(c) for c in cells}
        if "crash-group" in behaviours and len(cells) > 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if "big-group" in behaviours and len(cells) > 2:
            raise MemoryError("fake: a group of more than two does not fit")
        with ctxs[0].train_timer():  # one batched training for every member
            time.sleep(self.settings(cells[0]).sleep)
        trained, out = set(), []
        for cell, ctx in zip(cells, ctxs):
            shared = self.shared_training(cell)
            if shared is None or (cell.seed, shared) not in trained:
                trained.add((cell.seed, shared))
                _mark("train", cell.key)
            try:
                out.append(self._outcome(cell, ctx))
            except Exception as exc:  # this member's own failure
                out.append(exc)
        return out

    def memory(self, cell):
        """A method's ``memory_gib`` meta, else the block's ``memory_mb`` setting, else the default."""
        gib = REGISTRY.get("method", cell.method, "fake").meta.get("memory_gib", 0)
        mb = self.settings(cell).memory_mb
        return int(gib * 1024**3) if gib else int(mb * 1024**2) if mb else super().memory(cell)

    def claims(self):
        effect = SmallestEffect(0.1, "a tenth of a score unit (test track)")
        return [
            paired_better("good", "plain", "score", text="good beats plain", smallest_effect=effect),
            paired_better("jitter", "plain", "score", text="jitter beats plain", smallest_effect=effect),
        ]


@dataset("const", tracks=("fake",), bounds={"offset": (0.0, 10.0)})
def const(offset: float = 1.0) -> dict:
    """A constant 'dataset'."""
    return {"offset": offset}


@method("plain", track="fake", baseline=True)
def plain() -> str:
    """Baseline."""
    return "plain"


@method("good", track="fake")
def good(strength: float = 0.5) -> str:
    """Better than plain."""
    return "good"


@method("jitter", track="fake")
def jitter(shift: float = 0.2) -> str:
    """``shift`` above plain, plus seed noise (sd 0.1): undecided at 3 seeds, decided with more."""
    return "jitter"


@method("big-memory", track="fake", memory_gib=1e6)
def big_memory() -> str:
    """Declares a million GiB: no machine can start it."""
    return "plain"


def _behaviour(name: str):
    def fn() -> str:
        return name

    fn.__qualname__ = f"behaviour_{name}"
    fn.__doc__ = f"A method whose run does: {name}."
    return fn


@method("shares", track="fake")
def shares(tau: float = 0.0) -> str:
    """Trains as plain (shared training), adds ``tau`` at prediction."""
    return "plain"


_BEHAVIOURS = ("nan", "raise", "crash", "hang", "on-device", "cuda-oom", "predicts", "predicts-raise")
for _name in _BEHAVIOURS + ("big-group", "crash-group", "reject-group"):
    method(_name, track="fake")(_behaviour(_name))
