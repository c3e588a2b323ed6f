"""The vae training loop over K members at once (a cell group; K = 1 for a single cell).

Members share the autoencoder's shape (a plain AE's code layer is half a VAE's, so AEs stack only
with AEs): encoder and decoder are two ``StackedNet``s, each member built under its own seed by the
caller. Each member draws its epoch permutation and its reparameterisation noise from its own
generators in the single cell's order (one ``randn`` per step, of that step's shape), uploaded once
per epoch; its regulariser and weight are its own (``MemberCalls`` per kind); one Adam over the
stacked parameters is K independent ones. Nothing is read on the host per step: objective,
reconstruction and regulariser go to device buffers and are replayed through each member's
``RunContext`` after the loop (curves, ``remember``, ``check_finite``).
"""

from __future__ import annotations

import functools
from typing import Any

from harness.tracks.vae.model import AEConfig, regulariser, split_code

NAMES = ("train_objective", "recon_bce", "regulariser")


def epoch_draws(g_data: list[Any], g_noise: list[Any], cfgs: list[AEConfig], n: int, bs: int, latent: int, device: Any):
    """Per member, one epoch's permutation ``[K, n]`` and noise ``[K, n, latent]``: the permutation and
    then one ``randn`` per step of that step's shape, from the member's generators as a single cell
    draws them (none for a plain AE), uploaded once."""
    import torch

    perms = torch.stack([torch.randperm(n, generator=g) for g in g_data])
    noise = torch.zeros(len(cfgs), n, latent)
    for m, (g, cfg) in enumerate(zip(g_noise, cfgs)):
        if cfg.kind != "ae":
            for k in range(0, n, bs):
                noise[m, k : k + bs] = torch.randn((min(bs, n - k), latent), generator=g)
    return perms.to(device), noise.to(device)


def train(enc: Any, dec: Any, x: Any, s: Any, cfgs: list[AEConfig], ctxs: list[Any]) -> list[dict[str, list[float]]]:
    """Train every member; per member its per-step objective, reconstruction and regulariser."""
    import torch
    import torch.nn.functional as F

    from harness.engine.context import TrainLoop
    from harness.models.stacked import MemberCalls, member_view

    stochastic = cfgs[0].kind != "ae"
    opt = torch.optim.Adam([*enc.params, *dec.params], lr=s.lr)
    reg_fn = MemberCalls([functools.partial(regulariser, AEConfig(c.kind)) for c in cfgs])
    weights = [c.weight for c in cfgs]
    weight: Any = weights[0] if len(set(weights)) == 1 else torch.tensor(weights, device=x.device)
    g_data, g_noise = [c.generator("data") for c in ctxs], [c.generator("noise") for c in ctxs]
    n = x.shape[0]
    steps_per_epoch = -(-n // s.batch_size)
    loop = TrainLoop(ctxs, s.epochs * steps_per_epoch, NAMES, str(x.device))
    step = 0
    with loop:
        for _ in range(s.epochs):
            perms, noise = epoch_draws(g_data, g_noise, cfgs, n, s.batch_size, s.latent, x.device)
            for k in range(0, n, s.batch_size):
                xb = x[perms[:, k : k + s.batch_size]]
                mu, sigma = split_code(enc(xb), s.latent, stochastic)
                z = mu + sigma * noise[:, k : k + s.batch_size] if stochastic else mu
                rec = F.binary_cross_entropy_with_logits(dec(z), xb, reduction="none").sum(-1)
                reg = reg_fn(mu, sigma)
                w = weight if isinstance(weight, float) else member_view(weight, reg)
                obj = (rec + w * reg).mean(-1)
                loop.record(step, train_objective=obj, recon_bce=rec.mean(-1), regulariser=reg.mean(-1))
                opt.zero_grad()
                obj.sum().backward()
                opt.step()
                step += 1
                if loop.due(step - 1) and not any(loop.poll()[0]):
                    break
            else:
                continue
            break  # every member diverged
    values = loop.host_values(step)
    return [{name: values[name][m] for name in NAMES} for m in range(len(ctxs))]


def replay(values: dict[str, list[float]], n: int, s: Any, ctx: Any) -> None:
    """One member's bookkeeping, as the per-step loop did it (``Diverged`` at its first NaN step)."""
    total = s.epochs * (-(-n // s.batch_size))
    log_every = max(1, total // s.curve_points)
    objective = values["train_objective"]
    step = 0
    for _ in range(s.epochs):
        for k in range(0, n, s.batch_size):
            seen = objective[step] if step < len(objective) else float("nan")
            value = ctx.check_finite(seen, "train objective", step)
            ctx.samples_seen += min(s.batch_size, n - k)
            if step % log_every == 0 or step == total - 1:
                ctx.log("train_objective", step, value)
                ctx.remember(
                    train_objective=value, recon_bce=values["recon_bce"][step], regulariser=values["regulariser"][step]
                )
            step += 1
