"""What the igr track measures on a trained MLP: accuracy and loss, ||grad L||^2, lambda_max of the
training-loss Hessian, and the noise-sharpness proxy (kept as a secondary metric).

lambda_max is the sharpness the theory means: GD with step h is stable near a minimum only when
lambda_max < 2/h (Cohen et al. 2021, the edge of stability). The noise proxy (mean train-loss rise
under Gaussian weight noise) is what "robust to noisy parameter perturbations" in Barrett & Dherin's
abstract refers to; it mixes all eigen-directions and moves little, so it stays a secondary view.
"""

from __future__ import annotations

from typing import Any

SIGMAS = (0.01, 0.05)


def hessian_rows(data: Any, rows: int) -> tuple[Any, Any]:
    """The training rows lambda_max is measured on: the first ``rows`` (0 = the whole training set)."""
    if rows <= 0 or rows >= data.x_train.shape[0]:
        return data.x_train, data.y_train
    return data.x_train[:rows], data.y_train[:rows]


def lambda_max(net: Any, data: Any, settings: Any, ctxs: list[Any]) -> list[float]:
    """Top eigenvalue of the Hessian of each member's mean training cross-entropy (power iteration on
    Hessian-vector products, all members at once: ``harness.models.hessian.top_eigenvalues``)."""
    from harness.models.hessian import top_eigenvalues
    from harness.models.stacked import member_cross_entropy

    x, y = hessian_rows(data, settings.hessian_rows)
    eigs = top_eigenvalues(
        lambda: member_cross_entropy(net(x, shared=True), y),
        net.params,
        [ctx.generator("hessian") for ctx in ctxs],
        iters=settings.hessian_iters,
        tol=1e-3,
    )
    return [e.value for e in eigs]


def evaluate(model: Any, data: Any, settings: Any, ctx: Any, lam: float | None = None) -> dict[str, float]:
    """All end-of-training metrics of one member (``lam``: its lambda_max, measured for the group)."""
    import torch
    import torch.nn.functional as F

    s = settings
    params = list(model.parameters())
    loss = F.cross_entropy(model(data.x_train), data.y_train)
    grads = torch.autograd.grad(loss, params)
    out = {
        "train_loss": ctx.check_finite(loss.item(), "final train loss"),
        "grad_norm_sq": float(sum((g * g).sum() for g in grads)),
    }
    if s.target_loss > 0:
        out["reached_target"] = float(out["train_loss"] <= s.target_loss)
    if lam is not None:
        out["lambda_max"] = ctx.check_finite(lam, "lambda_max")
    with torch.no_grad():
        logits = model(data.x_test)
        out["test_loss"] = F.cross_entropy(logits, data.y_test).item()
        out["test_accuracy"] = (logits.argmax(1) == data.y_test).float().mean().item()
        ctx.record_predictions(logits.argmax(1), data.y_test)
        out["train_accuracy"] = (model(data.x_train).argmax(1) == data.y_train).float().mean().item()
        if data.x_valid.shape[0]:
            out["valid_accuracy"] = (model(data.x_valid).argmax(1) == data.y_valid).float().mean().item()
        out.update(noise_sharpness(model, data, out["train_loss"], s.noise_draws, ctx))
    return out


def noise_sharpness(model: Any, data: Any, base: float, draws: int, ctx: Any) -> dict[str, float]:
    """Mean train-loss rise under Gaussian weight noise at each sigma (weights restored afterwards)."""
    import torch
    import torch.nn.functional as F

    params = list(model.parameters())
    gen = ctx.generator("noise")  # on the CPU: a GPU run draws the same noise
    originals = [p.detach().clone() for p in params]
    out = {}
    with torch.no_grad():
        for sigma in SIGMAS:
            rises = []
            for _ in range(draws):
                for p, p0 in zip(params, originals):
                    p.copy_(p0 + sigma * torch.randn(p0.shape, generator=gen).to(p0.device))
                rises.append(F.cross_entropy(model(data.x_train), data.y_train).item() - base)
            out[f"sharpness_{sigma}"] = sum(rises) / len(rises)
        for p, p0 in zip(params, originals):
            p.copy_(p0)
    return out
