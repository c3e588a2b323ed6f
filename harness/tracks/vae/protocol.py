"""The vae track: a geometric view of the VAE (Su post 7725, "Variational Autoencoder (VI)").

Protocol: the same MLP encoder/decoder (two hidden layers) trained with Adam on a digit dataset as
(1) a plain autoencoder, (2) a VAE with the KL term, (3) a VAE with Su's simple regulariser
||mu||^2 + ||sigma - 1||^2; latent size d is a setting (2 for plots, 8). Scores on the test split:
reconstruction error, how close the aggregate codes are to N(0, I) (mean, covariance, MMD),
quality and diversity of decoded prior samples (a fixed classifier trained by the harness), and
interpolation smoothness. Su's post has no numbers, so the claims are directional only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.claims import Claim
from harness.engine.context import seeded_init, stack_key
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.vae.model import AEConfig

# The digit classifier that scores samples is trained once per dataset and cached: on the CPU, so CPU
# and GPU runs score with the same classifier.
SCORER = "training the scoring classifier (a cached artifact shared with CPU runs)"
# Inputs at most this wide make a stacked mini-batch step pay on a CPU (benchmarks/bench_groups.py).
SMALL_INPUT = 100


@dataclass
class VAESettings:
    latent: int = 2
    hidden: int = 256
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    prior_samples: int = 1000
    mmd_samples: int = 1000
    interp_pairs: int = 50
    interp_steps: int = 10
    curve_points: int = 20


@track("vae", version=1)
class VAE(Track):
    """AE vs VAE (KL) vs Su's simple regulariser: shape of the code space (Su 2020)."""

    primary = "mmd"
    # the same CPU-drawn noise on both devices; MMD^2 of 200 codes is small and noisy in itself
    device_tolerance = (0.005, 0.1)
    recipe_type = AEConfig
    metrics = (
        Metric("mmd", False, "MMD² codes vs N(0,I)", ".2e"),
        Metric("recon_mse", False, "recon MSE / pixel"),
        Metric("code_mean", False, "‖mean code‖", ".3f"),
        Metric("code_cov_err", False, "‖Cov − I‖_F", ".3f"),
        Metric("prior_confidence", True, "prior-sample clf confidence"),
        Metric("prior_class_entropy", True, "prior-sample class entropy (nats)", ".3f"),
        Metric("prior_nn_rms", False, "prior-sample RMS to nearest train"),
        Metric("interp_path_ratio", False, "interp path / direct", ".3f"),
        Metric("interp_confidence", True, "interp clf confidence"),
        Metric("regulariser", False, "KL of posteriors (VAEs)", ".3f"),
        Metric("latent", True, "d", ".0f"),
    )
    secondary = ("recon_mse", "code_cov_err", "prior_confidence", "interp_path_ratio")
    Settings = VAESettings
    settings_bounds = {
        "latent": (1, 64),
        "hidden": (1, None),
        "epochs": (1, None),
        "batch_size": (1, None),
        "lr": (1e-6, 1.0),
        "prior_samples": (10, None),
        "mmd_samples": (10, None),
        "interp_pairs": (1, None),
        "interp_steps": (2, None),
        "curve_points": (1, None),
    }

    def cost(self, cell: Any) -> float:
        s = VAESettings(**cell.settings)
        n = cell.dataset_params.get("n_train") or 10000
        from harness.registry import REGISTRY

        d = REGISTRY.get("dataset", cell.dataset).meta.get("input_dim", 784)
        flops = 6 * n * s.epochs * (2 * d * s.hidden + 2 * s.hidden**2)
        return 3.0 + flops / 1e10  # measured ~35 s per 10k-image x 10-epoch MNIST cell on a busy core

    # --- cell groups ------------------------------------------------------------------------------
    def group_key(self, cell: Any) -> str | None:
        """Same dataset and settings (widths, latent size, budget); members differ by seed, regulariser
        and weight. A plain AE's code layer is half a VAE's: AEs group with AEs only."""
        return self._stack(cell)

    def group_pays_on_cpu(self, cell: Any) -> bool:
        """Small inputs only (measured, ``benchmarks/bench_groups.py --group on``: 1.3x on sklearn digits'
        64 pixels, 1.0-1.14x on MNIST's 784, where the products are already efficient alone)."""
        from harness.registry import REGISTRY

        return REGISTRY.get("dataset", cell.dataset).meta.get("input_dim", 784) <= SMALL_INPUT

    def _stack(self, cell: Any) -> str:
        try:
            plain = self.recipe(cell).kind == "ae"
        except Exception:  # a bad parameter: the cell trains alone and fails there, alone
            return cell.key
        return stack_key(cell) + (" ae" if plain else "")

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.engine.context import only_result

        return only_result(self.run_group([cell], [ctx]))

    def run_group(self, cells: list[Any], ctxs: list[Any]) -> list[dict[str, float] | BaseException]:
        """Train the members as one stacked autoencoder (``harness.tracks.vae.train``), score each alone."""
        from harness.models.stacked import run_stacks

        return run_stacks(cells, ctxs, self._stack, self._run_stack, self.recipe)

    def _run_stack(self, cells: list[Any], ctxs: list[Any], cfgs: list[AEConfig]) -> list[Any]:
        from harness.models.stacked import StackedNet, each_member
        from harness.tracks.vae import metrics as vm
        from harness.tracks.vae.model import make_autoencoder
        from harness.tracks.vae.train import replay, train

        cell, device = cells[0], ctxs[0].device
        s: VAESettings = self.settings(cell)
        data = self.load_data(cell)
        x, xt = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
        with ctxs[0].cpu_part(SCORER):
            clf = vm.cached_classifier(cell.dataset, cell.dataset_params, x, data.y_train)
        for ctx in ctxs[1:]:
            ctx.cpu_parts.extend(p for p in ctxs[0].cpu_parts if p not in ctx.cpu_parts)
        clf, x, xt = clf.to(device), x.to(device), xt.to(device)
        models = []
        for ctx, cfg in zip(ctxs, cfgs):
            with seeded_init(ctx.seed("init")):
                models.append(make_autoencoder(x.shape[1], s.hidden, s.latent, stochastic=cfg.kind != "ae"))
        enc = StackedNet([m.enc for m in models], device)
        dec = StackedNet([m.dec for m in models], device)
        values = train(enc, dec, x, s, cfgs, ctxs)
        enc.unstack()
        dec.unstack()
        yt = data.y_test.to(device)

        def finish(m: int) -> dict[str, float]:
            replay(values[m], x.shape[0], s, ctxs[m])
            model = models[m].to(device)
            model.eval()
            return self.evaluate(model, cfgs[m], clf, x, xt, yt, s, ctxs[m], cells[m])

        return each_member(range(len(cells)), finish)

    def evaluate(
        self, model: Any, cfg: AEConfig, clf: Any, x: Any, xt: Any, yt: Any, s: VAESettings, ctx: Any, cell: Any
    ) -> dict[str, float]:
        import torch

        from harness.tracks.vae import metrics as vm
        from harness.tracks.vae.model import regulariser

        g = ctx.generator("eval")  # draws on the CPU, so every device scores the same noise

        def randn(*shape: int) -> Any:
            return torch.randn(*shape, generator=g).to(ctx.device)

        with torch.no_grad():
            mu, sigma = model.encode(xt)
            recon = model.decode(mu)
            out = {"recon_mse": float(((recon - xt) ** 2).mean())}
            z = mu + sigma * randn(*mu.shape)
            out["code_mean"], out["code_cov_err"] = vm.gaussian_fit(z)
            n = min(s.mmd_samples, z.shape[0])
            ref = randn(n, s.latent)
            out["mmd"] = vm.mmd2(z[:n], ref)
            if cfg.kind != "ae":  # the KL of the posteriors, comparable across both VAEs
                out["regulariser"] = float(regulariser(AEConfig("kl"), mu, sigma.clamp_min(1e-6)).mean())
            prior = model.decode(randn(s.prior_samples, s.latent))
            out["prior_confidence"], out["prior_class_entropy"] = vm.classifier_scores(clf, prior)
            out["prior_nn_rms"] = vm.nearest_train_rms(prior, x)
            pairs = min(s.interp_pairs, mu.shape[0] // 2)
            idx = torch.randperm(mu.shape[0], generator=g)[: 2 * pairs]
            out["interp_path_ratio"], out["interp_confidence"] = vm.interpolation(
                model, clf, mu[idx[:pairs]], mu[idx[pairs:]], s.interp_steps
            )
            out["test_accuracy_clf"] = _accuracy(clf, xt, yt)
            out["recon_accuracy_clf"] = _accuracy(clf, recon, yt)
        out["latent"] = float(s.latent)
        if s.latent == 2:
            from harness.tracks.vae.codes import save_codes

            save_codes(cell.key, mu[:2000].float().cpu().numpy(), yt[:2000].cpu().numpy())
        return out

    def claims(self) -> list[Claim]:
        from harness.tracks.vae.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.vae.codes import code_space_figure

        fig = code_space_figure(table)
        return [("2-D code spaces (test-set mu, coloured by digit; seed with the lowest number)", fig)] if fig else []


def _accuracy(clf: Any, images: Any, labels: Any) -> float:
    """The harness classifier's accuracy on ``images`` through ``harness.metrics``."""
    import torch

    from harness.metrics import accuracy

    with torch.no_grad():
        return accuracy(labels, clf(images).argmax(1))
