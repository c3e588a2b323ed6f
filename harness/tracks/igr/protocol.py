"""The igr track: finite learning rates as implicit gradient regularisation.

A ReLU MLP is trained by full-batch GD (the theory's setting) or mini-batch SGD (``optimizer``)
under one of three protocols (``protocol``, see ``train``): equal physical time T = sum of step
sizes (``time``), equal epochs (``epochs``), or until the training loss reaches the block's
``target_loss`` (``converge``). Metrics: test accuracy/loss, train loss, final ||grad L||^2,
lambda_max of the training-loss Hessian at the end (power iteration on Hessian-vector products)
and at initialisation (in the baseline's cell only: every arm starts from the same weights), the
noise-sharpness proxy, steps, epochs, physical time, and whether the arm reached the block's target
loss (an arm that did not is ``underfit`` in the claims).

Version 2 (deliberate bump): the setting that chose gd|sgd was called ``protocol`` in version 1;
it is now ``optimizer``, and ``protocol`` names the stopping rule. Version-1 results show as stale.
"""

from __future__ import annotations

from typing import Any

from harness.claims import Claim
from harness.registry import REGISTRY, track
from harness.track import Metric, Track
from harness.tracks.igr import paper
from harness.tracks.igr.claims import track_claims
from harness.tracks.igr.recipe import Recipe
from harness.tracks.igr.settings import IGRSettings
from harness.tracks.igr.train import OPTIMIZERS, PROTOCOLS, plan_steps


@track("igr", version=2)
class IGR(Track):
    """Implicit gradient regularisation (Barrett & Dherin 2021; Smith et al. 2021; Su 2020)."""

    primary = "test_accuracy"
    # no dropout: only summation order differs; a smoke test set of ~1,500 digits
    device_tolerance = (0.02, 0.0)
    metrics = (
        Metric("test_accuracy", True, "test acc"),
        Metric("test_loss", False, "test loss"),
        Metric("train_loss", False, "train loss"),
        Metric("reached_target", True, "reached target", ".2f"),
        Metric("grad_norm_sq", False, "‖∇L‖²", ".2e"),
        Metric("lambda_max", False, "λ_max", ".3g"),
        Metric("lambda_max_init", False, "λ_max at init", ".3g"),
        Metric("sharpness_0.01", False, "loss rise, sigma=0.01", ".2e"),
        Metric("sharpness_0.05", False, "loss rise, sigma=0.05", ".2e"),
        Metric("steps_to_target", False, "steps to target loss", ".0f"),
        Metric("steps", False, "steps", ".0f"),
        Metric("epochs", False, "epochs", ".1f"),
        Metric("physical_time", True, "T = sum h", ".1f"),
        Metric("valid_accuracy", True, "valid acc"),
    )
    secondary = ("train_loss", "reached_target", "grad_norm_sq", "lambda_max", "sharpness_0.05", "steps")
    recipe_type = Recipe
    Settings = IGRSettings
    settings_choices = {"optimizer": OPTIMIZERS, "protocol": PROTOCOLS, "model": ("mlp", *paper.PAPER_MODELS)}
    settings_bounds = {
        "time": (1e-6, None),
        "epochs": (0.0, None),
        "target_loss": (0.0, None),
        "hidden": (1, None),
        "depth": (1, None),
        "batch_size": (1, None),
        "max_steps": (1, None),
        "hessian_iters": (0, None),
        "hessian_rows": (0, None),
        "noise_draws": (1, None),
        "curve_points": (1, None),
    }

    def check_settings(self, settings: Any) -> None:
        from harness.tracks.igr.train import check_protocol

        check_protocol(settings)
        paper.check_paper_settings(settings)

    def cost(self, cell: Any) -> float:
        """Seconds on one core, roughly; ``converge`` is assumed to need the ``time`` setting's T."""
        s = IGRSettings(**cell.settings)
        recipe: Recipe = self.recipe(cell)
        if s.model in paper.PAPER_MODELS:  # measured speed (harness/models/timings.py); this CPU, one core
            from harness.models.timings import cpu_name

            return paper.device_seconds(cell, recipe, cpu_name(1)) or 0.0
        n = cell.dataset_params.get("n_train") or 4000
        steps = plan_steps(s, recipe, n).steps
        if s.protocol == "converge":
            steps = min(steps, recipe.steps_for(s.time))
        rows = n if s.optimizer == "gd" else s.batch_size
        in_dim = REGISTRY.get("dataset", cell.dataset).meta.get("input_dim", 784)
        per_row = 6 * (in_dim * s.hidden + (s.depth - 1) * s.hidden**2 + 10 * s.hidden) / 5e10
        hessian = 2 * 3 * s.hessian_iters * (min(n, s.hessian_rows) if s.hessian_rows else n) * per_row
        return 1.0 + steps * rows * per_row * (3 if recipe.egr_mu else 1) + hessian

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import torch

        from harness.models.mlp import make_mlp
        from harness.tracks.igr.evaluation import evaluate, lambda_max
        from harness.tracks.igr.train import train

        s: IGRSettings = self.settings(cell)
        if s.model in paper.PAPER_MODELS:  # the Wide-ResNet on CIFAR-10 (paper.py)
            return paper.run_paper(self, cell, ctx)
        recipe: Recipe = self.recipe(cell)
        data = self.load_data(cell).to(ctx.device)
        n = data.x_train.shape[0]
        plan = plan_steps(s, recipe, n)
        torch.manual_seed(ctx.seed("init"))
        model = make_mlp(data.input_dim, s.hidden, data.num_classes, depth=s.depth).to(ctx.device)
        # lambda_max at init depends on the seed, data and model only, never on the method: it is
        # measured once per block and seed, in the baseline's cell (half the Hessian cost elsewhere)
        at_init = s.hessian_iters > 0 and cell.method == REGISTRY.baseline(self.name).name
        init = {"lambda_max_init": lambda_max(model, data, s, ctx)} if at_init else {}
        result = train(model, data, s, recipe, plan, ctx)
        metrics = evaluate(model, data, s, ctx)
        steps_to_target = result.steps_to_target
        if s.optimizer == "sgd" and s.protocol != "converge" and metrics.get("reached_target") == 1.0:
            steps_to_target = result.steps  # SGD outside converge checks the full-batch loss only at the end
        metrics.update(init, steps=float(result.steps), physical_time=result.physical_time)
        metrics["epochs"] = ctx.samples_seen / n
        if steps_to_target == steps_to_target:
            metrics["steps_to_target"] = float(steps_to_target)
        return metrics

    def memory(self, cell: Any) -> int:  # a paper network's from its sizes (paper.memory)
        return paper.memory(cell)[0] if cell.settings.get("model") in paper.PAPER_MODELS else super().memory(cell)

    def gpu_memory(self, cell: Any) -> int:
        return paper.memory(cell)[1] if cell.settings.get("model") in paper.PAPER_MODELS else super().gpu_memory(cell)

    def device_seconds(self, cell: Any, device: str) -> float | None:
        """Seconds of a paper-network cell on ``device`` from measured timings (None: not measured)."""
        return paper.device_seconds(cell, self.recipe(cell), device)

    def claims(self) -> list[Claim]:
        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.igr.figures import track_figures

        return track_figures(table)
