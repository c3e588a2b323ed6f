"""IGR: the two exact checks, the recipes, and the track on its smoke dataset."""

from __future__ import annotations

import math

import pytest

from harness.engine.cell import Cell
from harness.engine.runner import run_cell
from harness.errors import HarnessError
from harness.registry import REGISTRY
from harness.tracks.igr import exact as igr_exact
from harness.tracks.igr.recipe import Recipe


def test_backward_error_orders():
    """GD is O(h)-close to the flow of E and O(h^2)-close to the flow of E + (h/4)||grad E||^2."""
    rows = igr_exact.backward_error()
    hs = [r.h for r in rows]
    assert igr_exact.loglog_slope(hs, [r.err_plain for r in rows]) == pytest.approx(1.0, abs=0.15)
    assert igr_exact.loglog_slope(hs, [r.err_modified for r in rows]) == pytest.approx(2.0, abs=0.25)
    assert rows[0].ratio == pytest.approx(43.5, rel=0.05)  # pilot value at h = 0.01
    assert rows[-1].ratio == pytest.approx(4.4, rel=0.05)  # pilot value at h = 0.1


def test_modified_gradient_matches_finite_differences():
    import numpy as np

    th, h = np.array([0.7, 1.3]), 0.1

    def modified_loss(t):
        g = igr_exact.grad_e(t)
        return 0.5 * (1 - t[0] * t[1]) ** 2 + h / 4 * float(g @ g)

    eps = 1e-6
    fd = [(modified_loss(th + eps * e) - modified_loss(th - eps * e)) / (2 * eps) for e in np.eye(2)]
    assert np.allclose(igr_exact.grad_modified(th, h), fd, atol=1e-7)


def test_larger_step_ends_flatter_and_more_balanced():
    rows = igr_exact.flat_minima()
    assert rows[0].sharpness == pytest.approx(4.84, abs=0.01)  # the flow's end point (pilot 4.842)
    assert rows[-1].sharpness == pytest.approx(2.98, abs=0.01)  # h = 0.08 (pilot 2.985)
    sharp = [r.sharpness for r in rows]
    assert all(a > b for a, b in zip(sharp, sharp[1:]))
    assert all(a.imbalance > b.imbalance for a, b in zip(rows, rows[1:]))


def test_recipes_and_physical_time():
    assert Recipe(lr=0.2).steps_for(40) == 200
    assert Recipe(lr=0.2, schedule="cosine").mean_factor() == pytest.approx(0.5, abs=1e-6)
    assert Recipe(lr=0.2, schedule="step", step_factor=0.1, step_drops=2).factor(0.9) == pytest.approx(0.01)
    w = Recipe(lr=1, schedule="warmup-linear", warmup_frac=0.1)
    assert w.factor(0.05) == pytest.approx(0.5) and w.factor(0.1) == pytest.approx(1.0)
    da = Recipe(lr=0.2, ascent_lr=0.1)
    assert da.effective_lr == pytest.approx(0.05)
    with pytest.raises(HarnessError, match="smaller than lr"):
        REGISTRY.get("method", "descent-ascent", "igr").load()(lr=0.1, ascent_lr=0.2)


def _cell(method: str, params: dict, **settings) -> Cell:
    track = REGISTRY.get("track", "igr").load()
    base = {n: p.default for n, p in track.settings_params().items()}
    base.update({"time": 1.0, "hidden": 16, "noise_draws": 1, "hessian_iters": 5, **settings})
    ds = REGISTRY.get("dataset", "digits").resolve_params({"n_train": 100, "n_valid": 50})
    m = REGISTRY.get("method", method, "igr")
    return Cell("igr", "digits", ds, method, m.resolve_params(params), base, 0, "smoke")


@pytest.mark.parametrize("method", sorted(e.name for e in REGISTRY.entries("method", "igr")))
@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_every_igr_method_runs_and_reports_metrics(method, optimizer):
    rec = run_cell(_cell(method, {}, optimizer=optimizer), threads=1)
    assert rec["status"] == "ok", rec["error"]
    m = rec["metrics"]
    for key in (
        "test_accuracy",
        "test_loss",
        "train_loss",
        "grad_norm_sq",
        "sharpness_0.01",
        "sharpness_0.05",
        "lambda_max",
        "steps",
        "epochs",
        "physical_time",
    ):
        assert key in m and math.isfinite(m[key])
    assert m["physical_time"] == pytest.approx(1.0, rel=0.2)
    assert ("lambda_max_init" in m) == (method == "small-lr")  # measured once per block and seed
    assert rec["train_seconds"] > 0
    test = rec["predictions"]["test"]  # float32 mean on the device vs float64 here
    assert test.correct.mean() == pytest.approx(m["test_accuracy"], abs=1e-6) and test.n == len(test.labels)


def test_same_seed_gives_the_same_result():
    a = run_cell(_cell("constant-lr", {"lr": 0.5}), threads=1)
    b = run_cell(_cell("constant-lr", {"lr": 0.5}), threads=1)
    assert a["metrics"] == b["metrics"]
