"""The weightreg track: L2 and weight decay versus WEISSI (Liu, Cui & Chan 2020; Su 2020, post 7681).

Question: does a regulariser that respects the weight-scale-shift symmetry of ReLU networks
generalise and resist adversarial inputs better than L2 / weight decay?

Protocol. A method is a factory returning a ``Regularizer``: an optional penalty on the weights,
added to the mean cross-entropy (coupled), and an optional decoupled decay the loop applies to the
weights before each optimiser step (AdamW-style: w <- w - lr * wd * w). Which parameters are
regularised is fixed here for every method: ``weight_parameters`` (all Linear/Conv weights, no
biases). Models are ReLU MLPs with or without biases and one small ReLU CNN, never with
normalisation layers (they add their own scale invariance). Adam is the default optimiser because
with plain SGD coupled L2 and decoupled decay coincide.

Tuning. The suite lists each method's coefficient grid as separate selectors, every cell reports
``valid_accuracy`` next to its test metrics, and the claims compare methods at the coefficient
chosen on validation accuracy inside each seed (``harness.claims.Tuned``), so the choice's noise
is part of the seed-to-seed spread the tests see; the test numbers of the other grid points are
computed but never used to choose.

Robustness metrics are measured in units of the training inputs' overall standard deviation
(``scale``), so the same eps means the same thing on MNIST (pixels in [0, 1]) and MNIST-1D
(standardised signals); adversarial and noisy inputs are clamped to the training data's range.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from harness.engine.context import seeded_init, stack_key
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.weightreg.constants import FGSM_EPS, MODELS, fgsm_name
from harness.tracks.weightreg.recipe import Regularizer

# Inputs at most this wide make a stacked mini-batch step pay on a CPU (benchmarks/bench_groups.py).
SMALL_INPUT = 100


@track("weightreg")
class WeightReg(Track):
    """L2 / decoupled weight decay / WEISSI on ReLU nets without normalisation: accuracy and robustness."""

    primary = "test_accuracy"
    # no dropout: only summation order differs
    device_tolerance = (0.02, 0.0)
    recipe_type = Regularizer
    metrics = (
        Metric("test_accuracy", True, "test accuracy"),
        Metric("valid_accuracy", True, "validation accuracy (picks the coefficient)"),
        *(Metric(fgsm_name(e), True, f"FGSM accuracy, eps={e:g} std") for e in FGSM_EPS),
        Metric("input_grad_norm", False, "input-gradient norm (test mean)", ".4g"),
        Metric("noise_acc", True, "accuracy under Gaussian input noise"),
        Metric("norm_imbalance", False, "max/min layer weight norm", ".3g"),
        Metric("log_norm_product", False, "sum of log layer norms (intrinsic norm)", ".3f"),
        Metric("train_loss", False, "final training cross-entropy", ".4f"),
    )
    secondary = (fgsm_name(0.1), fgsm_name(0.25), "input_grad_norm", "noise_acc", "norm_imbalance")

    @dataclasses.dataclass
    class Settings:
        model: str = "mlp"
        width: int = 256
        depth: int = 2
        channels: int = 16
        optimizer: str = "adam"
        lr: float = 1e-3
        momentum: float = 0.9
        batch_size: int = 128
        epochs: int = 5
        max_steps: int = 0
        noise_std: float = 0.5
        eval_batch: int = 2000

    settings_bounds = {
        "width": (1, None),
        "depth": (1, None),
        "channels": (1, None),
        "lr": (0, None),
        "momentum": (0, 1),
        "batch_size": (1, None),
        "epochs": (1, None),
        "max_steps": (0, None),
        "noise_std": (0, None),
        "eval_batch": (1, None),
    }
    settings_choices = {"model": MODELS, "optimizer": ("adam", "sgd")}

    # ------------------------------------------------------------------------------------------
    def build_model(self, s: Any, input_shape: tuple[int, ...], num_classes: int):
        from harness.models.cnn import make_cnn
        from harness.models.mlp import make_mlp

        bias = not s.model.endswith("-nobias")
        if s.model.startswith("cnn"):
            return make_cnn(input_shape, num_classes, (s.channels, 2 * s.channels), bias=bias)
        return make_mlp(math.prod(input_shape), s.width, num_classes, depth=s.depth, bias=bias)

    # --- cell groups ------------------------------------------------------------------------------
    def group_key(self, cell: Any) -> str | None:
        """Same dataset and settings (model, optimizer, budget); members differ by seed, regulariser and
        its coefficients. CNN cells train alone (the stacked network is an MLP)."""
        s = self.Settings(**cell.settings)
        return None if s.model.startswith("cnn") else stack_key(cell)

    def group_pays_on_cpu(self, cell: Any) -> bool:
        """Small inputs only (measured, ``benchmarks/bench_groups.py --group on``: 1.6-1.9x on MNIST-1D's 40
        inputs, 1.11x on MNIST's 784, where the products are already efficient alone)."""
        from harness.registry import REGISTRY

        return REGISTRY.get("dataset", cell.dataset).meta.get("input_dim", 784) <= SMALL_INPUT

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.engine.context import only_result

        return only_result(self.run_group([cell], [ctx]))

    def run_group(self, cells: list[Any], ctxs: list[Any]) -> list[dict[str, float] | BaseException]:
        """Train the members as one stacked network (``harness.tracks.weightreg.train``), test each alone."""
        from harness.models.stacked import run_stacks

        def key(cell: Any) -> str:  # a network that does not stack trains alone
            return stack_key(cell) if not self.Settings(**cell.settings).model.startswith("cnn") else cell.key

        return run_stacks(cells, ctxs, key, self._run_stack, self.recipe)

    def _run_stack(self, cells: list[Any], ctxs: list[Any], regs: list[Regularizer]) -> list[Any]:
        from harness.errors import HarnessError
        from harness.models.mlp import weight_parameters
        from harness.models.stacked import StackedNet, each_member
        from harness.tracks.weightreg.train import train

        s = self.settings(cells[0])
        data = self.load_data(cells[0]).to(ctxs[0].device)
        if len(data.y_train) == 0 or len(data.y_valid) == 0 or len(data.y_test) == 0:
            raise HarnessError(f"weightreg needs non-empty train/valid/test splits ({cells[0].dataset_selector})")
        modules = []
        for ctx in ctxs:
            with seeded_init(ctx.seed("init")):
                modules.append(self.build_model(s, data.input_shape, data.num_classes))
        net = StackedNet(modules, ctxs[0].device)
        results = train(net, data, s, regs, ctxs)
        models = net.unstack()

        def finish(m: int) -> dict[str, float]:
            result, ctx = results[m], ctxs[m]
            if isinstance(result, BaseException):
                raise result
            for w in weight_parameters(models[m]):
                ctx.check_finite(float(w.detach().abs().sum()), what="weight norm", step=result.steps)
            return self.evaluate(models[m], data, s, ctx, train_loss=result.train_loss)

        return each_member(range(len(cells)), finish)

    def evaluate(self, model: Any, data: Any, s: Any, ctx: Any, train_loss: float) -> dict[str, float]:
        """Test once: clean, FGSM and noisy accuracy, input-gradient norm, weight-norm diagnostics."""
        import torch

        from harness.metrics import accuracy
        from harness.models.mlp import weight_parameters

        model.eval()
        scale = float(data.x_train.std())
        lo, hi = float(data.x_train.min()), float(data.x_train.max())
        test_pred = _predict(model, data.x_test, data.y_test, s.eval_batch)
        ctx.record_predictions(test_pred, data.y_test)
        out: dict[str, float] = {
            "train_loss": float(train_loss),
            "valid_accuracy": _accuracy(model, data.x_valid, data.y_valid, s.eval_batch),
            "test_accuracy": accuracy(data.y_test, test_pred),
        }
        adv = _fgsm_and_grad(model, data.x_test, data.y_test, [e * scale for e in FGSM_EPS], lo, hi, s.eval_batch)
        for e, acc in zip(FGSM_EPS, adv["fgsm"]):
            out[fgsm_name(e)] = acc
        out["input_grad_norm"] = adv["grad_norm"]
        g = ctx.generator("noise", device=None)
        noise = torch.randn(data.x_test.shape, generator=g).to(data.x_test.device) * (s.noise_std * scale)
        out["noise_acc"] = _accuracy(model, (data.x_test + noise).clamp(lo, hi), data.y_test, s.eval_batch)
        norms = [float(w.detach().norm()) for w in weight_parameters(model)]
        out["norm_imbalance"] = max(norms) / min(norms) if min(norms) > 0 else float("inf")
        out["log_norm_product"] = sum(math.log(v) if v > 0 else -math.inf for v in norms)
        for i, v in enumerate(norms):
            out[f"norm_l{i}"] = v
        return out

    def claims(self) -> list[Any]:
        from harness.tracks.weightreg.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.weightreg.figures import track_figures

        return track_figures(table)

    def cost(self, cell: Any) -> float:
        s = self.settings(cell)
        per_epoch = {"mnist": 1.5, "mnist1d": 0.15, "digits": 0.05, "cifar10": 60.0}.get(cell.dataset, 1.0)
        n = cell.dataset_params.get("n_train") or 0
        if cell.dataset == "mnist" and n:
            per_epoch *= n / 50000
        return 3.0 + s.epochs * per_epoch * (4.0 if s.model.startswith("cnn") else 1.0)


def _predict(model: Any, x: Any, y: Any, batch: int) -> Any:
    """Predicted classes of the ``len(y)`` rows of ``x``, in batches of ``batch``."""
    import torch

    with torch.no_grad():
        pred = [model(x[i : i + batch]).argmax(1) for i in range(0, len(y), batch)]
    return torch.cat(pred) if pred else y[:0]


def _accuracy(model: Any, x: Any, y: Any, batch: int) -> float:
    """Test-style accuracy through ``harness.metrics`` (predictions in batches of ``batch``)."""
    from harness.metrics import accuracy

    return accuracy(y, _predict(model, x, y, batch))


def _fgsm_and_grad(model: Any, x: Any, y: Any, eps: list[float], lo: float, hi: float, batch: int) -> dict[str, Any]:
    """One input gradient per test example gives both the FGSM attacks (x + eps * sign(g), clamped
    to [lo, hi]) and the mean per-example input-gradient norm of the cross-entropy."""
    import torch
    import torch.nn.functional as F

    from harness.metrics import accuracy

    preds: list[list[Any]] = [[] for _ in eps]
    grad_norm_sum = 0.0
    for i in range(0, len(y), batch):
        xb = x[i : i + batch].clone().requires_grad_(True)
        yb = y[i : i + batch]
        loss = F.cross_entropy(model(xb), yb, reduction="sum")  # sum: row i's gradient is its own
        (g,) = torch.autograd.grad(loss, xb)
        grad_norm_sum += float(g.flatten(1).norm(dim=1).sum())
        with torch.no_grad():
            for k, e in enumerate(eps):
                preds[k].append(model((xb + e * g.sign()).clamp(lo, hi)).argmax(1))
    n = max(len(y), 1)
    fgsm = [accuracy(y, torch.cat(p)) if p else float("nan") for p in preds]
    return {"fgsm": fgsm, "grad_norm": grad_norm_sum / n}
