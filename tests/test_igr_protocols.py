"""The igr protocols (time / epochs / converge) on the smoke scale, and their failure paths."""

from __future__ import annotations

import math

import pytest

from harness.engine.cell import Cell
from harness.engine.runner import run_cell
from harness.errors import HarnessError
from harness.registry import REGISTRY
from harness.suite import load_suite


def _cell(method: str = "constant-lr", params: dict | None = None, **settings) -> Cell:
    track = REGISTRY.get("track", "igr").load()
    base = {n: p.default for n, p in track.settings_params().items()}
    base.update({"hidden": 16, "noise_draws": 1, "hessian_iters": 5, **settings})
    ds = REGISTRY.get("dataset", "digits").resolve_params({"n_train": 100, "n_valid": 50})
    m = REGISTRY.get("method", method, "igr")
    return Cell("igr", "digits", ds, method, m.resolve_params(params or {"lr": 0.5}), base, 0, "smoke")


def _ok(cell: Cell) -> dict[str, float]:
    rec = run_cell(cell, threads=1)
    assert rec["status"] == "ok", rec["error"]
    return rec["metrics"]


def test_time_protocol_travels_the_physical_time():
    m = _ok(_cell(protocol="time", time=3.0))
    assert m["physical_time"] == pytest.approx(3.0)
    assert m["steps"] == 6  # T / lr
    assert "reached_target" not in m  # no target declared: underfitting is not judged


@pytest.mark.parametrize("optimizer, steps", [("gd", 3), ("sgd", 3 * 4)])  # sgd: ceil(100 / 32) = 4 steps/epoch
def test_epochs_protocol_gives_equal_passes(optimizer, steps):
    m = _ok(_cell(protocol="epochs", epochs=3.0, optimizer=optimizer, batch_size=32))
    assert m["steps"] == steps
    assert m["epochs"] == pytest.approx(steps * (100 if optimizer == "gd" else 32) / 100)


def test_converge_protocol_stops_at_the_target():
    m = _ok(_cell(protocol="converge", target_loss=0.5, max_steps=500))
    assert m["train_loss"] <= 0.5 and m["reached_target"] == 1.0
    assert m["steps_to_target"] == m["steps"] < 500
    # the step before the stop was still above the target: a smaller target needs more steps
    m2 = _ok(_cell(protocol="converge", target_loss=0.3, max_steps=500))
    assert m2["steps"] > m["steps"]


def test_converge_protocol_with_sgd_checks_each_epoch():
    m = _ok(_cell(protocol="converge", optimizer="sgd", batch_size=25, target_loss=1.0, max_steps=2000))
    assert m["reached_target"] == 1.0 and m["train_loss"] <= 1.0
    assert m["steps"] % 4 == 0  # stopped at an epoch boundary (100 / 25 steps per epoch)


def test_converge_protocol_caps_an_arm_that_cannot_reach_the_target():
    m = _ok(_cell(protocol="converge", target_loss=1e-6, max_steps=7))
    assert m["steps"] == 7 and m["reached_target"] == 0.0
    assert "steps_to_target" not in m


def test_time_protocol_marks_an_underfit_arm():
    m = _ok(_cell(protocol="time", time=0.5, target_loss=0.05))
    assert m["reached_target"] == 0.0 and m["train_loss"] > 0.05


def test_lambda_max_is_measured_at_init_and_end_and_can_be_switched_off():
    base = _ok(_cell("small-lr", {"lr": 0.5}, protocol="time", time=3.0))
    assert base["lambda_max"] > 0 and base["lambda_max_init"] > 0
    # every arm starts from the same weights: init is measured in the baseline's cell only
    other = _ok(_cell("constant-lr", {"lr": 0.5}, protocol="time", time=3.0))
    assert "lambda_max_init" not in other and other["lambda_max"] == base["lambda_max"]
    off = _ok(_cell("small-lr", {"lr": 0.5}, protocol="time", time=3.0, hessian_iters=0))
    assert "lambda_max" not in off and "lambda_max_init" not in off
    assert off["test_accuracy"] == base["test_accuracy"]  # measuring does not change training


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"protocol": "converge"}, 'protocol = "converge" needs a target'),
        ({"protocol": "epochs"}, 'protocol = "epochs" needs epochs > 0'),
        ({"protocol": "gd"}, "protocol must be one of"),
    ],
)
def test_bad_protocol_settings_are_one_line_errors(settings, message):
    rec = run_cell(_cell(**settings), threads=1)
    assert rec["status"] == "error"
    assert message in rec["error"] and "\n" not in rec["error"]


def test_a_version_1_suite_key_fails_at_load(tmp_path):
    """``protocol = "gd"`` (version 1's name for the optimizer) is rejected with the valid choices."""
    p = tmp_path / "old.toml"
    p.write_text(
        '[suite]\n[[run]]\ntrack = "igr"\ndatasets = ["digits"]\nmethods = ["small-lr"]\n'
        '[run.settings]\nprotocol = "gd"\n'
    )
    with pytest.raises(HarnessError, match="protocol") as err:
        load_suite(str(p))
    assert "\n" not in str(err.value) and "converge" in str(err.value)


def test_user_suite_runs_epochs_and_converge(tmp_path):
    """A user's own suite can choose each protocol (the done-when of issue 12)."""
    from harness.suite import expand

    p = tmp_path / "mine.toml"
    p.write_text(
        "[suite]\nseeds = 1\n"
        '[[run]]\ntrack = "igr"\ndatasets = ["digits[n_train=100,n_valid=50]"]\nmethods = ["small-lr[lr=0.5]"]\n'
        '[run.settings]\nprotocol = "epochs"\nepochs = 4\nhidden = 16\nhessian_iters = 3\n'
        '[[run]]\ntrack = "igr"\ndatasets = ["digits[n_train=100,n_valid=50]"]\nmethods = ["small-lr[lr=0.5]"]\n'
        '[run.settings]\nprotocol = "converge"\ntarget_loss = 1.0\nhidden = 16\nhessian_iters = 3\n'
    )
    cells = expand(load_suite(str(p)))
    assert {c.settings["protocol"] for c in cells} == {"epochs", "converge"}
    for cell in cells:
        m = _ok(cell)
        assert math.isfinite(m["lambda_max"])


def test_converge_without_a_target_fails_before_any_cell_runs(tmp_path):
    """Rules between settings are checked by ``Track.check_settings`` when a run starts: one line,
    exit code 2, and no cell is recorded."""
    from click.testing import CliRunner

    from harness.cli import main

    p = tmp_path / "bad.toml"
    p.write_text(
        '[suite]\nseeds = 1\n[[run]]\ntrack = "igr"\ndatasets = ["digits[n_train=100,n_valid=50]"]\n'
        'methods = ["small-lr"]\n[run.settings]\nprotocol = "converge"\n'
    )
    results = tmp_path / "results"
    out = CliRunner().invoke(main, ["run", "--suite", str(p), "--results", str(results), "--executor", "inline"])
    assert out.exit_code == 2
    assert "needs a target" in out.output and "Traceback" not in out.output
    assert not list(results.rglob("*.json"))
