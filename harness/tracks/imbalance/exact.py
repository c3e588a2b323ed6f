"""Exact checks of the imbalance track: the logit-adjusted loss's pairwise closed form and the smooth-F1
gradient (Su 7615, 7708). The closed forms live here; the check runs the registered method against them."""

from __future__ import annotations

from typing import Any


def smooth_f1(p: Any, y: Any) -> Any:
    """Smooth F1 (Su 2020): 2 sum(y p) / sum(y + p) over dim 0 (one value per column/class).

    Its gradient is d(-F1)/dp_i = -2 (y_i - F1/2) / sum(y + p): positives pulled up with weight
    1 - F1/2, negatives pushed down with weight F1/2, which is what ``f1_weighted_ce`` uses.
    """
    return 2.0 * (y * p).sum(0) / (y + p).sum(0).clamp_min(1e-12)


def la_closed_form(logits: Any, targets: Any, prior: Any, tau: float = 1.0) -> Any:
    """Per-row logit-adjusted loss in Su's pairwise form: log(1 + sum_{i!=y} (p_i/p_y)^tau e^{f_i-f_y})."""
    import torch
    import torch.nn.functional as F

    f_y = logits.gather(1, targets[:, None])
    p_y = prior[targets][:, None]
    terms = (prior[None, :] / p_y).pow(tau) * (logits - f_y).exp()
    mask = F.one_hot(targets, logits.shape[-1]).bool()
    return torch.log1p(terms.masked_fill(mask, 0.0).sum(1))


def check_la_identity() -> tuple[str, bool]:
    """|registered logit-adjusted loss - mean of the pairwise closed form| over random inputs, float64."""
    import torch

    from harness.registry import REGISTRY
    from harness.track import method_recipe

    imbalance = REGISTRY.get("track", "imbalance").load()  # not imported: the protocol imports these checks
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for tau in (0.0, 0.5, 1.0, 2.0):
        logits = torch.randn(64, 7, generator=g, dtype=torch.float64) * 3
        targets = torch.randint(0, 7, (64,), generator=g)
        prior = torch.rand(7, generator=g, dtype=torch.float64) + 0.01
        prior = prior / prior.sum()
        loss = method_recipe(imbalance, "logit-adjusted", {"tau": tau})(logits, targets, prior)
        worst = max(worst, abs(float(loss) - float(la_closed_form(logits, targets, prior, tau).mean())))
    return f"max abs diff {worst:.1e}", worst < 1e-10


def check_f1_gradient() -> tuple[str, bool]:
    """Central finite differences of -F1_smooth against the closed-form gradient, float64."""
    import torch

    g = torch.Generator().manual_seed(1)
    p = torch.rand(40, generator=g, dtype=torch.float64)
    y = (torch.rand(40, generator=g, dtype=torch.float64) < 0.3).to(torch.float64)
    f1 = float(smooth_f1(p, y))
    closed = -2 * (y - f1 / 2) / (y + p).sum()
    h = 1e-6
    fd = torch.empty_like(p)
    for i in range(len(p)):
        e = torch.zeros_like(p)
        e[i] = h
        fd[i] = (-smooth_f1(p + e, y) + smooth_f1(p - e, y)) / (2 * h)
    err = float((fd - closed).abs().max())
    return f"max abs error {err:.1e}", err < 1e-8
