"""The vae track: a geometric view of the VAE (Su post 7725, "Variational Autoencoder (VI)").

Protocol: the same MLP encoder/decoder (two hidden layers) trained with Adam on a digit dataset as
(1) a plain autoencoder, (2) a VAE with the KL term, (3) a VAE with Su's simple regulariser
||mu||^2 + ||sigma - 1||^2; latent size d is a setting (2 for plots, 8). Scores on the test split:
reconstruction error, how close the aggregate codes are to N(0, I) (mean, covariance, MMD),
quality and diversity of decoded prior samples (a fixed classifier trained by the harness), and
interpolation smoothness. Su's post has no numbers, so the claims are directional only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.claims import INCONCLUSIVE, NA, NOT_REPRODUCED, REPRODUCED, Claim, ClaimResult, paired_better
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.vae_model import AEConfig

REGULARITY = ("mmd", "code_cov_err", "code_mean", "prior_confidence")


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

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import torch

        from harness.tracks import vae_metrics as vm
        from harness.tracks.vae_model import loss, make_autoencoder

        s: VAESettings = self.settings(cell)
        cfg: AEConfig = self.method_fn(cell)()
        data = self.load_data(cell)
        x, xt = data.x_train.reshape(len(data.x_train), -1), data.x_test.reshape(len(data.x_test), -1)
        clf = vm.cached_classifier(cell.dataset, cell.dataset_params, x, data.y_train)
        torch.manual_seed(ctx.seed("init"))
        model = make_autoencoder(x.shape[1], s.hidden, s.latent, stochastic=cfg.kind != "ae")
        opt = torch.optim.Adam(model.parameters(), lr=s.lr)
        g_data, g_noise = ctx.generator("data"), ctx.generator("noise")
        steps_per_epoch = math.ceil(x.shape[0] / s.batch_size)
        total = s.epochs * steps_per_epoch
        log_every = max(1, total // s.curve_points)
        step = 0
        for _ in range(s.epochs):
            perm = torch.randperm(x.shape[0], generator=g_data)
            for k in range(0, x.shape[0], s.batch_size):
                xb = x[perm[k : k + s.batch_size]]
                with ctx.train_timer():
                    obj, rec, reg = loss(model, cfg, xb, g_noise)
                    opt.zero_grad()
                    obj.backward()
                    opt.step()
                value = ctx.check_finite(obj.item(), "train objective", step)
                ctx.samples_seen += xb.shape[0]
                if step % log_every == 0 or step == total - 1:
                    ctx.log("train_objective", step, value)
                    ctx.remember(train_objective=value, recon_bce=rec.item(), regulariser=reg.item())
                step += 1
        model.eval()
        return self.evaluate(model, cfg, clf, x, xt, data.y_test, s, ctx, cell)

    def evaluate(
        self, model: Any, cfg: AEConfig, clf: Any, x: Any, xt: Any, yt: Any, s: VAESettings, ctx: Any, cell: Any
    ) -> dict[str, float]:
        import torch

        from harness.tracks import vae_metrics as vm
        from harness.tracks.vae_model import regulariser

        g = ctx.generator("eval")
        with torch.no_grad():
            mu, sigma = model.encode(xt)
            recon = model.decode(mu)
            out = {"recon_mse": float(((recon - xt) ** 2).mean())}
            z = mu + sigma * torch.randn(mu.shape, generator=g)
            out["code_mean"], out["code_cov_err"] = vm.gaussian_fit(z)
            n = min(s.mmd_samples, z.shape[0])
            ref = torch.randn(n, s.latent, generator=g)
            out["mmd"] = vm.mmd2(z[:n], ref)
            if cfg.kind != "ae":  # the KL of the posteriors, comparable across both VAEs
                out["regulariser"] = float(regulariser(AEConfig("kl"), mu, sigma.clamp_min(1e-6)).mean())
            prior = model.decode(torch.randn(s.prior_samples, s.latent, generator=g))
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
            save_codes(cell.key, mu[:2000].numpy(), yt[:2000].numpy())
        return out

    def claims(self) -> list[Claim]:
        claims = []
        for vae in ("vae-kl", "vae-simple"):
            claims.append(
                paired_better(vae, "ae", "mmd", text=f"{vae} codes are closer to N(0, I) than the AE's (MMD)")
            )
            claims.append(
                paired_better(vae, "ae", "code_cov_err", text=f"{vae} code covariance is closer to I than the AE's")
            )
            claims.append(
                paired_better(
                    vae,
                    "ae",
                    "prior_confidence",
                    text=f"{vae}: decoded N(0, I) samples look more like digits than the AE's",
                )
            )
        claims.append(paired_better("ae", "vae-kl", "recon_mse", text="the AE reconstructs best (vs VAE-KL)"))
        claims.append(
            paired_better(
                "vae-kl",
                "ae",
                "interp_path_ratio",
                text="VAE-KL interpolations are smoother (shorter pixel paths) than the AE's",
            )
        )
        claims.append(
            Claim(
                "the simple regulariser ||mu||^2 + ||sigma-1||^2 behaves like the KL term",
                _simple_like_kl,
                published='Su: "already very close to the standard VAE" (no numbers)',
            )
        )
        return claims

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        fig = code_space_figure(table)
        return [("2-D code spaces (test-set mu, coloured by digit; seed with the lowest number)", fig)] if fig else []


def _accuracy(clf: Any, images: Any, labels: Any) -> float:
    import torch

    with torch.no_grad():
        return float((clf(images).argmax(1) == labels).float().mean())


def _simple_like_kl(table: Any, track: Any) -> list[ClaimResult]:
    """On each dataset: for every regularity metric, VAE-simple's mean is nearer (in log ratio) to
    VAE-KL's than to the AE's. All metrics agree -> reproduced; all disagree -> not; mixed -> inconclusive."""
    text = "the simple regulariser ||mu||^2 + ||sigma-1||^2 behaves like the KL term"
    pub = 'Su: "already very close to the standard VAE" (no numbers)'
    out = []
    if not len(table):
        return [ClaimResult(text, pub, "no results", NA)]
    for ds in sorted(set(table["dataset"])):
        t = table[(table["dataset"] == ds) & (table["status"] == "ok")]
        means = {m: t[t["method_name"] == m] for m in ("ae", "vae-kl", "vae-simple")}
        if any(len(v) == 0 for v in means.values()):
            out.append(ClaimResult(text, pub, "needs ae, vae-kl and vae-simple results", NA, ds))
            continue
        votes, parts = [], []
        for metric in REGULARITY:
            col = f"m.{metric}"
            a, k, sm = (float(means[m][col].mean()) for m in ("ae", "vae-kl", "vae-simple"))
            if min(a, k, sm) <= 0 or any(math.isnan(v) for v in (a, k, sm)):
                continue
            near_kl = abs(math.log(sm / k)) < abs(math.log(sm / a))
            votes.append(near_kl)
            parts.append(f"{metric}: simple {sm:.3g} / KL {k:.3g} / AE {a:.3g}")
        if not votes:
            out.append(ClaimResult(text, pub, "no comparable metrics", NA, ds))
            continue
        verdict = REPRODUCED if all(votes) else NOT_REPRODUCED if not any(votes) else INCONCLUSIVE
        out.append(
            ClaimResult(text, pub, f"{sum(votes)}/{len(votes)} metrics nearer KL; " + "; ".join(parts), verdict, ds)
        )
    return out


def codes_path(key: str) -> Any:
    from harness.artifacts import artifact_path

    return artifact_path("vae-codes", key, ".npz")


def save_codes(key: str, mu: Any, labels: Any) -> None:
    """Keep a 2-D code sample per cell so the report can draw the code space without retraining."""
    import io

    import numpy as np

    from harness.artifacts import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, mu=mu, y=labels)
    atomic_write_bytes(codes_path(key), buf.getvalue())


def code_space_figure(table: Any) -> Any | None:
    import numpy as np

    if not len(table) or "m.latent" not in table:
        return None
    t = table[(table["status"] == "ok") & (table["m.latent"] == 2)].sort_values("seed")
    panels = []
    for (ds, method), rows in t.groupby(["dataset_name", "method_name"], sort=True):
        for key in rows["key"]:
            path = codes_path(key)
            if path.exists():
                with np.load(path) as f:
                    panels.append((ds, method, f["mu"], f["y"]))
                break
    if not panels:
        return None
    from harness.report.plots import _plt

    plt = _plt()
    datasets = sorted({p[0] for p in panels})
    methods = sorted({p[1] for p in panels})
    fig, axes = plt.subplots(
        len(datasets), len(methods), figsize=(3.2 * len(methods), 3.0 * len(datasets)), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_visible(False)
    for ds, method, mu, y in panels:
        ax = axes[datasets.index(ds)][methods.index(method)]
        ax.set_visible(True)
        ax.scatter(mu[:, 0], mu[:, 1], c=y, cmap="tab10", s=2, vmin=0, vmax=9)
        ax.set_title(f"{ds} · {method}", fontsize=8)
        circle = plt.Circle((0, 0), 2.0, fill=False, linestyle="--", linewidth=0.8)  # ~95% of N(0, I)
        ax.add_patch(circle)
        ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig
