"""The igr track: finite learning rates as implicit gradient regularisation.

Protocol: a ReLU MLP trained by full-batch GD (the theory's setting) or mini-batch SGD for a
fixed physical time T = sum of step sizes, so every learning rate travels the same "time" along
its flow; both T and the step count are reported. Metrics: test accuracy/loss, train loss,
final ||grad L||^2, a sharpness proxy (mean train-loss rise under Gaussian weight noise at two
sigmas), and steps to a target train loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.claims import Claim
from harness.registry import REGISTRY, track
from harness.track import Metric, Track
from harness.tracks.igr.claims import SWEEP, track_claims
from harness.tracks.igr.recipe import Recipe

SIGMAS = (0.01, 0.05)


@dataclass
class IGRSettings:
    protocol: str = "gd"  # gd: full batch; sgd: mini-batches of batch_size
    time: float = 20.0  # physical time T = sum of step sizes
    hidden: int = 128
    depth: int = 2
    batch_size: int = 64
    max_steps: int = 20000
    target_loss: float = 0.1
    noise_draws: int = 5
    curve_points: int = 25


@track("igr", version=1)
class IGR(Track):
    """Implicit gradient regularisation (Barrett & Dherin 2021; Su 2020)."""

    primary = "test_accuracy"
    metrics = (
        Metric("test_accuracy", True, "test acc"),
        Metric("test_loss", False, "test loss"),
        Metric("train_loss", False, "train loss"),
        Metric("grad_norm_sq", False, "‖∇L‖²", ".2e"),
        Metric("sharpness_0.01", False, "loss rise, sigma=0.01", ".2e"),
        Metric("sharpness_0.05", False, "loss rise, sigma=0.05", ".2e"),
        Metric("steps_to_target", False, "steps to target loss", ".0f"),
        Metric("steps", False, "steps", ".0f"),
        Metric("physical_time", True, "T = sum h", ".1f"),
        Metric("valid_accuracy", True, "valid acc"),
    )
    secondary = ("test_loss", "grad_norm_sq", "sharpness_0.05", "steps")
    recipe_type = Recipe
    Settings = IGRSettings
    settings_choices = {"protocol": ("gd", "sgd")}
    settings_bounds = {
        "time": (1e-6, None),
        "hidden": (1, None),
        "depth": (1, None),
        "batch_size": (1, None),
        "max_steps": (1, None),
        "noise_draws": (1, None),
        "curve_points": (1, None),
    }

    def cost(self, cell: Any) -> float:
        s = IGRSettings(**cell.settings)
        recipe: Recipe = self.recipe(cell)
        steps = min(recipe.steps_for(s.time), s.max_steps)
        n = cell.dataset_params.get("n_train") or 4000
        rows = n if s.protocol == "gd" else s.batch_size
        in_dim = REGISTRY.get("dataset", cell.dataset).meta.get("input_dim", 784)
        flops = 6 * rows * (in_dim * s.hidden + (s.depth - 1) * s.hidden**2 + 10 * s.hidden)
        per_step = flops / 5e10 * (3 if recipe.egr_mu else 1)
        return 1.0 + steps * per_step

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        from harness.models.mlp import make_mlp

        s: IGRSettings = self.settings(cell)
        recipe: Recipe = self.recipe(cell)
        data = self.load_data(cell).to(ctx.device)
        torch.manual_seed(ctx.seed("init"))
        model = make_mlp(data.input_dim, s.hidden, data.num_classes, depth=s.depth).to(ctx.device)
        params = [p for p in model.parameters()]
        steps = min(recipe.steps_for(s.time), s.max_steps)
        gen = ctx.generator("data")
        n = data.x_train.shape[0]
        log_every = max(1, steps // s.curve_points)
        steps_to_target = math.nan
        t_phys = 0.0

        def objective(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            loss = F.cross_entropy(model(xb), yb)
            obj = loss
            if recipe.flood is not None:
                obj = (loss - recipe.flood).abs() + recipe.flood
            if recipe.egr_mu:
                grads = torch.autograd.grad(loss, params, create_graph=True)
                obj = obj + recipe.egr_mu * sum((g * g).sum() for g in grads)
            return loss, obj

        for step in range(steps):
            if s.protocol == "gd":
                xb, yb = data.x_train, data.y_train
            else:
                idx = torch.randint(0, n, (s.batch_size,), generator=gen).to(ctx.device)
                xb, yb = data.x_train[idx], data.y_train[idx]
            with ctx.train_timer():
                lr = recipe.lr * recipe.factor(step / steps)
                if recipe.ascent_lr is not None and step % 2 == 1:
                    lr = -recipe.ascent_lr
                loss, obj = objective(xb, yb)
                grads = torch.autograd.grad(obj, params)
                with torch.no_grad():
                    for p, g in zip(params, grads):
                        p.add_(g, alpha=-lr)
            t_phys += lr
            value = ctx.check_finite(loss.item(), "train loss", step)
            ctx.samples_seen += xb.shape[0]
            if s.protocol == "gd" and math.isnan(steps_to_target) and value <= s.target_loss:
                steps_to_target = step + 1
            if step % log_every == 0 or step == steps - 1:
                ctx.log("train_loss", step, value)
                ctx.remember(train_loss=value, steps=step + 1, physical_time=t_phys)

        metrics = self.evaluate(model, data, s, ctx)
        if s.protocol == "sgd" and metrics["train_loss"] <= s.target_loss:
            steps_to_target = steps  # only checked at the end for SGD (full-batch loss is not free)
        metrics.update(steps=float(steps), physical_time=t_phys)
        if not math.isnan(steps_to_target):
            metrics["steps_to_target"] = float(steps_to_target)
        return metrics

    def evaluate(self, model: Any, data: Any, s: IGRSettings, ctx: Any) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        params = list(model.parameters())
        loss = F.cross_entropy(model(data.x_train), data.y_train)
        grads = torch.autograd.grad(loss, params)
        out = {
            "train_loss": ctx.check_finite(loss.item(), "final train loss"),
            "grad_norm_sq": float(sum((g * g).sum() for g in grads)),
        }
        with torch.no_grad():
            logits = model(data.x_test)
            out["test_loss"] = F.cross_entropy(logits, data.y_test).item()
            out["test_accuracy"] = (logits.argmax(1) == data.y_test).float().mean().item()
            out["train_accuracy"] = (model(data.x_train).argmax(1) == data.y_train).float().mean().item()
            if data.x_valid.shape[0]:
                out["valid_accuracy"] = (model(data.x_valid).argmax(1) == data.y_valid).float().mean().item()
            gen = ctx.generator("noise", device=str(data.x_train.device))
            base = out["train_loss"]
            originals = [p.detach().clone() for p in params]
            for sigma in SIGMAS:
                rises = []
                for _ in range(s.noise_draws):
                    for p, p0 in zip(params, originals):
                        p.copy_(p0 + sigma * torch.randn(p0.shape, generator=gen, device=p0.device))
                    rises.append(F.cross_entropy(model(data.x_train), data.y_train).item() - base)
                out[f"sharpness_{sigma}"] = sum(rises) / len(rises)
            for p, p0 in zip(params, originals):
                p.copy_(p0)
        return out

    def claims(self) -> list[Claim]:
        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.report.plots import sweep_figure

        fig = sweep_figure(table, SWEEP, "lr", ["test_accuracy", "grad_norm_sq", "sharpness_0.05"], log_x=True)
        return (
            [("Metrics against the learning rate at equal physical time (mean and 95% CI over seeds)", fig)]
            if fig
            else []
        )
