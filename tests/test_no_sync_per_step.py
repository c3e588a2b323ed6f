"""No training loop waits for the device every step: syncs counted on the pretend GPU, per step.

Each track's smoke cell runs twice on ``harness.engine.device_guard``'s pretend CUDA device, once
with twice the steps of the other; evaluation and setup read the device the same number of times
in both runs, so the difference of the two sync counts is what the extra training steps cost. A
loop that calls ``.item()``, synchronises for a timer, or copies a value to the host per step costs
at least one sync per step; the loops read the device every ``CHECK_EVERY`` steps at most a few
times (``TrainLoop.poll``).
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.engine.context import CHECK_EVERY
from harness.engine.device_guard import fake_cuda
from harness.engine.runner import run_cell
from harness.suite import expand, load_suite

# (track, smoke method, setting that scales the steps, its two values, training steps at each value)
CASES = [
    ("igr", "small-lr", {"time": (1.2, 2.4)}, (60, 120)),  # GD at lr 0.02: T / lr steps
    ("igr", "egr", {"optimizer": ("sgd",) * 2, "epochs": (15.0, 30.0), "protocol": ("epochs",) * 2}, (60, 120)),
    ("weightreg", "weissi", {"epochs": (30, 60)}, (60, 120)),  # 200 rows, batch 128: 2 steps per epoch
    ("imbalance", "logit-adjusted", {"epochs": (30, 60)}, (60, 120)),  # 147 rows: 2 steps per epoch
    ("vae", "vae-simple", {"epochs": (15, 30)}, (60, 120)),  # 400 rows, batch 128: 4 steps per epoch
    ("embdim", "skipgram", {"steps": (60, 120)}, (60, 120)),
    ("tokenization", "wobert", {"finetune_steps": (60, 120), "eval_every": (1000, 1000)}, (60, 120)),
]
# Evaluation reads the device equally at both step counts; cheaper where a setting allows it.
LIGHTER = {"igr": {"hessian_iters": 0, "noise_draws": 1}}
ALLOWED = 3  # reads of the device per CHECK_EVERY steps


def _cell(track: str, method: str, settings: dict):
    cells = [c for c in expand(load_suite("smoke"), [track], None, None, 1) if c.method == method]
    return dataclasses.replace(cells[0], settings={**cells[0].settings, **settings})


@pytest.mark.parametrize("track, method, knobs, steps", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_training_loop_reads_the_device_every_few_steps_only(track, method, knobs, steps):
    counts = []
    for i in (0, 1):
        cell = _cell(track, method, {**LIGHTER.get(track, {}), **{k: v[i] for k, v in knobs.items()}})
        with fake_cuda() as report:
            rec = run_cell(cell, device="cuda", threads=1)
        assert rec["status"] == "ok", rec["error"]
        counts.append(report.sync_count)
    per_step = (counts[1] - counts[0]) / (steps[1] - steps[0])
    assert per_step <= ALLOWED / CHECK_EVERY, f"{track}: {per_step:.3f} device reads per training step ({counts})"


def test_the_guard_counts_what_a_gpu_would_wait_for():
    """The count is real: a per-step ``.item()`` loop is caught (and a device-side loop is not)."""
    import torch

    with fake_cuda() as report:
        w = torch.zeros(3, device="cuda", requires_grad=True)
        for _ in range(10):
            loss = (w - 1).pow(2).sum()
            loss.item()
        assert report.syncs["scalar read"] == 10
        report.reset()
        values = torch.zeros(10, device="cuda")
        for step in range(10):
            values[step] = (w - 1).pow(2).sum().detach()
        values.tolist()
        float(values[0])
        torch.cuda.synchronize()
        assert report.syncs == {"copy to host": 1, "scalar read": 1, "synchronize": 1}
