"""weightreg track: exact weight-scale-shift checks, coefficient errors, every method end to end."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
import torch

from harness.claims import best_valid_selector
from harness.engine.cell import Cell
from harness.engine.runner import run_cell
from harness.errors import HarnessError
from harness.models.cnn import make_cnn
from harness.models.mlp import linear_layers, make_mlp, weight_parameters
from harness.models.rescale import balance_, balancing_factors, layer_norms, rescale_, su_rescale_
from harness.registry import REGISTRY
from harness.track import method_recipe
from harness.tracks.weightreg import WeightReg
from harness.tracks.weightreg import exact as ex
from harness.tracks.weightreg.recipe import Regularizer

TRACK = "weightreg"


def _model(kind: str, bias: bool, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    """A float64 model with clearly non-zero biases, and a batch of inputs for it."""
    torch.manual_seed(seed)
    if kind == "mlp":
        model, x = make_mlp(12, [20, 16, 8], 4, bias=bias), torch.randn(32, 12)
    elif kind == "cnn2d":
        model, x = make_cnn((64,), 5, (4, 6), bias=bias), torch.rand(16, 64)
    else:
        model, x = make_cnn((40,), 5, (4, 6), bias=bias), torch.randn(16, 40)
    model = model.double()
    if bias:
        with torch.no_grad():
            for m in linear_layers(model):
                m.bias.normal_(0.0, 1.0)
    return model, x.double()


def _gammas(n: int, seed: int = 1) -> list[float]:
    """Random positive factors whose product is exactly 1 (last one closes the product)."""
    g = torch.Generator().manual_seed(seed)
    first = [float(v) for v in torch.exp(torch.randn(n - 1, generator=g, dtype=torch.float64))]
    return first + [1.0 / math.prod(first)]


def _weissi(lam1: float = 1.0, lam2: float = 1.0):
    return method_recipe(WeightReg, "weissi", {"lam1": lam1, "lam2": lam2}).penalty


def _l2(model: torch.nn.Module) -> float:
    return float(sum((w.detach() ** 2).sum() for w in weight_parameters(model)))


# --- exact checks -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mlp", "cnn2d", "cnn1d"])
@pytest.mark.parametrize("bias", [True, False])
def test_rescaling_with_product_one_keeps_the_output(kind, bias):
    model, x = _model(kind, bias)
    shifted = rescale_(copy.deepcopy(model), _gammas(len(linear_layers(model))))
    with torch.no_grad():
        y, y2 = model(x), shifted(x)
    assert torch.allclose(y, y2, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(weight_parameters(model)[0], weight_parameters(shifted)[0])


def test_output_scales_by_the_product_without_biases():
    model, x = _model("mlp", bias=False)
    gammas = [2.0, 3.0, 0.5, 1.5]
    shifted = rescale_(copy.deepcopy(model), gammas)
    with torch.no_grad():
        assert torch.allclose(shifted(x), math.prod(gammas) * model(x), rtol=1e-10, atol=1e-12)


def test_su_per_layer_bias_scaling_breaks_the_output_with_biases():
    model, x = _model("mlp", bias=True)
    gammas = _gammas(len(linear_layers(model)))
    with torch.no_grad():
        change = (su_rescale_(copy.deepcopy(model), gammas)(x) - model(x)).abs().max()
    assert change > 1e-2
    # ... and is exact only when the layers have no biases
    nb, xb = _model("mlp", bias=False)
    with torch.no_grad():
        assert torch.allclose(su_rescale_(copy.deepcopy(nb), gammas)(xb), nb(xb), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["mlp", "cnn2d"])
def test_weissi_is_invariant_and_l2_is_not(kind):
    model, _ = _model(kind, bias=True)
    shifted = rescale_(copy.deepcopy(model), _gammas(len(linear_layers(model)), seed=3))
    pen = _weissi(0.7, 0.3)
    with torch.no_grad():
        before, after = float(pen(weight_parameters(model))), float(pen(weight_parameters(shifted)))
    assert after == pytest.approx(before, rel=1e-12, abs=1e-12)
    assert abs(_l2(shifted) - _l2(model)) > 1e-3 * _l2(model)
    l2_pen = method_recipe(WeightReg, "l2", {"lam": 1.0}).penalty
    assert float(l2_pen(weight_parameters(model)).detach()) == pytest.approx(_l2(model), rel=1e-12)


def test_weissi_value_matches_its_formula():
    w1 = torch.tensor([[3.0, -4.0]], dtype=torch.float64)  # ||w1||_F = 5, ||w1||_1 = 7
    w2 = torch.tensor([[1.0], [0.0]], dtype=torch.float64)  # ||w2||_F = 1, ||w2||_1 = 1
    value = float(_weissi(0.5, 2.0)([w1, w2]))
    assert value == pytest.approx(0.5 * (math.log(5) + 0.0) + 2.0 * (7 / 5 + 1.0), rel=1e-12)


def test_l2_minimal_rescaling_equalises_layer_norms():
    model, x = _model("mlp", bias=True)
    gammas = balancing_factors(layer_norms(model))
    assert math.prod(gammas) == pytest.approx(1.0, rel=1e-12)
    balanced = copy.deepcopy(model)
    balance_(balanced)
    norms = layer_norms(balanced)
    assert max(norms) / min(norms) == pytest.approx(1.0, abs=1e-12)
    with torch.no_grad():
        assert torch.allclose(balanced(x), model(x), rtol=1e-10, atol=1e-10)
    # no other product-1 rescaling has a smaller L2
    for seed in range(20):
        other = rescale_(copy.deepcopy(model), _gammas(len(norms), seed=seed))
        assert _l2(balanced) <= _l2(other) + 1e-9


def test_rescale_rejects_bad_factors():
    model, _ = _model("mlp", bias=True)
    with pytest.raises(ValueError, match="one factor per weight layer"):
        rescale_(model, [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        rescale_(model, [1.0, -1.0, 1.0, -1.0])


def test_exact_claim_checks_pass():
    for fn in (ex.output_check, ex.su_bias_check, ex.weissi_l2_check, ex.balance_check):
        text, ok = fn()
        assert ok, text


def test_weight_parameters_are_weights_only():
    model, _ = _model("cnn2d", bias=True)
    ws = weight_parameters(model)
    assert len(ws) == 3 and all(w.dim() >= 2 for w in ws)
    assert not any(w is m.bias for m in linear_layers(model) for w in ws)


# --- coefficients -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,params,match",
    [
        ("l2", {"lam": -1e-3}, "outside"),
        ("weight-decay", {"wd": -0.1}, "outside"),
        ("weissi", {"lam1": -0.1}, "outside"),
        ("weissi", {"lam2": -1e-4}, "outside"),
        ("l2", {"lam": "abc"}, "must be float"),
        ("weissi", {"lam1": "nan"}, "finite"),
        ("weissi", {"lam": 0.1}, "unknown parameter"),
    ],
)
def test_bad_coefficients_are_one_line_errors(name, params, match):
    with pytest.raises(HarnessError, match=match) as info:
        REGISTRY.get("method", name, TRACK).resolve_params(params)
    assert "\n" not in str(info.value)


# --- the track end to end ---------------------------------------------------------------------
def _cell(method: str, params: dict | None = None, seed: int = 0, **settings) -> Cell:
    entry = REGISTRY.get("method", method, TRACK)
    defaults = {n: p.default for n, p in WeightReg.settings_params().items()}
    return Cell(
        TRACK,
        "digits",
        REGISTRY.get("dataset", "digits").resolve_params({}),
        method,
        entry.resolve_params(params or {}),
        {**defaults, **settings},
        seed,
        "smoke",
        {"track": 1, "dataset": 1, "method": entry.version},
    )


def test_exactly_one_baseline_and_methods_return_regularizers():
    methods = REGISTRY.entries("method", TRACK)
    assert [e.name for e in methods if e.baseline] == ["none"]
    assert {"none", "l2", "weight-decay", "weissi"} <= {e.name for e in methods}
    for e in methods:
        assert isinstance(e.load()(), Regularizer)


@pytest.mark.parametrize("model", ["mlp", "cnn-nobias"])
def test_every_method_runs_two_steps_and_reports_declared_metrics(model):
    declared = {m.name for m in WeightReg.metrics}
    for entry in REGISTRY.entries("method", TRACK):
        rec = run_cell(_cell(entry.name, max_steps=2, width=16, channels=2, model=model), threads=1)
        assert rec["status"] == "ok", rec.get("error")
        assert declared <= set(rec["metrics"]), entry.name
        assert rec["samples_seen"] == 2 * 128
        test = rec["predictions"]["test"]  # the test accuracy is the recorded predictions' accuracy
        assert test.correct.mean() == pytest.approx(rec["metrics"]["test_accuracy"], abs=1e-12)
        assert all(math.isfinite(v) for k, v in rec["metrics"].items() if k != "norm_imbalance")


def test_same_seed_same_init_and_regularizers_change_training():
    runs = {
        m: run_cell(_cell(m, p, max_steps=20, width=16, lr=1e-2), threads=1)["metrics"]
        for m, p in [
            ("none", {}),
            ("l2", {"lam": 0.1}),
            ("weight-decay", {"wd": 10.0}),
            ("weissi", {"lam1": 0.5, "lam2": 0.01}),
        ]
    }
    again = run_cell(_cell("none", max_steps=20, width=16, lr=1e-2), threads=1)["metrics"]
    assert again == runs["none"]  # deterministic per seed
    for m in ("l2", "weight-decay", "weissi"):
        assert runs[m]["log_norm_product"] < runs["none"]["log_norm_product"], m


def test_zero_coefficients_equal_the_baseline():
    base = run_cell(_cell("none", max_steps=5, width=16), threads=1)["metrics"]
    for m, p in [("l2", {"lam": 0.0}), ("weight-decay", {"wd": 0.0}), ("weissi", {"lam1": 0.0, "lam2": 0.0})]:
        got = run_cell(_cell(m, p, max_steps=5, width=16), threads=1)["metrics"]
        assert got["test_accuracy"] == base["test_accuracy"]
        assert got["norm_l0"] == pytest.approx(base["norm_l0"], rel=1e-6)


def test_a_coefficient_that_blows_up_is_recorded_diverged():
    rec = run_cell(_cell("l2", {"lam": 1e300}, max_steps=3, width=16), threads=1)
    assert rec["status"] == "diverged"
    assert "loss" in rec["error"]


def test_best_valid_selection_ignores_test_and_unfinished_grid_points():
    rows = []
    for label, valid, test, status in [
        ("l2[lam=0.1]", 0.9, 0.1, "ok"),
        ("l2[lam=1]", 0.8, 0.99, "ok"),
        ("l2[lam=10]", 0.95, 0.5, "diverged"),
    ]:
        for seed in range(3):
            rows.append(
                {
                    "dataset": "digits",
                    "method": label,
                    "method_name": "l2",
                    "seed": seed,
                    "status": status,
                    "m.valid_accuracy": valid,
                    "m.test_accuracy": test,
                }
            )
    table = pd.DataFrame(rows)
    assert best_valid_selector(table, "l2", "digits") == "l2[lam=0.1]"
    assert best_valid_selector(table, "weissi", "digits") is None


def test_claims_evaluate_on_a_tiny_table():
    track = WeightReg()
    rows = []
    for m, name, acc in [
        ("none", "none", 0.5),
        ("weight-decay[wd=1]", "weight-decay", 0.6),
        ("weissi", "weissi", 0.7),
        ("l2[lam=0.1]", "l2", 0.6),
    ]:
        for seed in range(4):
            rows.append(
                {
                    "dataset": "digits",
                    "method": m,
                    "method_name": name,
                    "seed": seed,
                    "status": "ok",
                    "m.valid_accuracy": acc,
                    "m.test_accuracy": acc + 0.01 * seed * (name == "weissi"),
                    **{f"m.{k}": acc for k in ("fgsm_acc_0.1", "fgsm_acc_0.25", "input_grad_norm", "norm_imbalance")},
                    "p.lam": 0.1 if name == "l2" else None,
                }
            )
    results = [r for c in track.claims() for r in c.evaluate(pd.DataFrame(rows), track)]
    assert not any(r.ours.startswith("check failed") for r in results), [r.ours for r in results]
    by_text = {r.claim: r for r in results}
    acc = next(r for t, r in by_text.items() if t.startswith("WEISSI >= weight decay on test"))
    assert acc.verdict == "reproduced" and acc.kind == "non-inferiority"
    assert "weight-decay chosen per seed on valid_accuracy: weight-decay[wd=1] x4" in acc.ours


def test_figures_render_from_a_tiny_table():
    rows = []
    for label, name, lam, acc in [
        ("none", "none", None, 0.5),
        ("l2[lam=0.1]", "l2", 0.1, 0.6),
        ("l2[lam=1]", "l2", 1.0, 0.55),
    ]:
        for seed in range(2):
            rows.append(
                {
                    "track": TRACK,
                    "dataset": "digits",
                    "method": label,
                    "method_name": name,
                    "seed": seed,
                    "status": "ok",
                    "p.lam": lam,
                    "m.valid_accuracy": acc,
                    "m.test_accuracy": acc,
                    "m.fgsm_acc_0.1": acc / 2,
                    "m.norm_imbalance": 2.0,
                }
            )
    figs = WeightReg().figures(pd.DataFrame(rows))
    assert figs and all(isinstance(caption, str) for caption, _ in figs)
