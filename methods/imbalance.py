"""Losses and decision rules for long-tailed classification (the ``imbalance`` track).

Every method is a plain loss ``fn(logits, targets, prior, **params) -> scalar`` that works outside
the harness: ``logits`` (N, C) float, ``targets`` (N,) int64, ``prior`` (C,) the training class
frequencies (positive, summing to 1). Two methods also change how the track trains or predicts,
declared as registry metadata the track reads:

* ``sampler="class-balanced"``: draw training rows with probability proportional to 1 / n_y;
* ``adjust=fn(logits, prior, **params)``: the prediction rule is ``argmax adjust(logits)``;
* ``trains_as="ce"``: the method trains exactly the named method's model (it differs only at
  prediction), so the track trains that model once per seed for all of them.

Formulas and sources: Menon et al. 2020 (logit adjustment), Ren et al. 2020 (balanced softmax),
Lin et al. 2017 (focal), Li et al. 2020 (self-adjusting dice), Su 2020 (kexue.fm 7708: F1-weighted
cross-entropy). The closed forms the exact checks compare against live in ``harness/tracks/imbalance/exact.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.registry import method
from harness.tracks.imbalance.exact import smooth_f1

TRACK = "imbalance"
NONNEG = (0.0, None)


def log_prior(prior: torch.Tensor) -> torch.Tensor:
    """log of the class prior. A zero-frequency class has no defined log-prior: the track refuses such
    a training set once, before any step (``harness.tracks.imbalance.protocol.train_prior``), so the
    training step never waits for the device to answer that question."""
    return prior.log()


# --- re-weighting and re-sampling ------------------------------------------------------------------


@method("weighted-ce", track=TRACK, bounds={"power": NONNEG})
def weighted_ce(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """Cross-entropy with class weights w_c proportional to prior_c^-power (power=1: inverse
    frequency), normalised so the average weight over the training distribution is 1 (the loss
    scale, and so the effective learning rate, stays that of plain CE)."""
    w = prior.pow(-power)
    w = w / (prior * w).sum()
    return F.cross_entropy(logits, targets, weight=w.to(logits.dtype), reduction="none").mean()


@method("resample", track=TRACK, sampler="class-balanced")
def resample(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Class-balanced re-sampling: plain CE, but the track draws each training row with
    probability proportional to 1 / n_y (every class equally often, with replacement)."""
    return F.cross_entropy(logits, targets)


# --- loss re-shaping -------------------------------------------------------------------------------


@method("focal", track=TRACK, bounds={"gamma": NONNEG})
def focal(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Softmax focal loss (Lin et al. 2017): -(1 - p_y)^gamma log p_y; gamma=0 is plain CE."""
    logp_y = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    p_y = logp_y.exp()
    return (-(1.0 - p_y).clamp_min(1e-12).pow(gamma) * logp_y).mean()  # clamp: finite grads for gamma < 1


@method("dice", track=TRACK, bounds={"alpha": NONNEG, "smooth": NONNEG})
def dice(
    logits: torch.Tensor,
    targets: torch.Tensor,
    prior: torch.Tensor,
    alpha: float = 0.01,
    smooth: float = 1.0,
    square: bool = True,
) -> torch.Tensor:
    """Self-adjusting dice loss (Li et al. 2020), per class over the batch, averaged over classes:
    p~ = (1 - p)^alpha * p, loss_c = 1 - (2 sum p~ y + s) / (sum p~^2 + sum y^2 + s) (``square``;
    without it the denominator is sum p~ + sum y + s). Defaults are the authors' TNEWS script
    (alpha=0.01, s=1, squared denominator). A class absent from a batch still gets a loss that
    pushes its probabilities down, so small batches hurt rare classes (full batches avoid that)."""
    p = F.softmax(logits, dim=-1)
    y = F.one_hot(targets, logits.shape[-1]).to(p.dtype)
    pt = (1.0 - p).pow(alpha) * p
    num = 2.0 * (pt * y).sum(0) + smooth
    den = (pt.pow(2).sum(0) + y.pow(2).sum(0) if square else pt.sum(0) + y.sum(0)) + smooth
    return (1.0 - num / den).mean()


@method("f1-weighted-ce", track=TRACK)
def f1_weighted_ce(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Su's F1-weighted cross-entropy (kexue.fm 7708), one-vs-rest per class on softmax outputs:
    -[y (1 - F1_c/2) log p + (1 - y) (F1_c/2) log(1 - p)], summed over classes, averaged over rows,
    with each class's smooth F1 of the batch treated as a constant (no gradient through it)."""
    logp = F.log_softmax(logits, dim=-1)
    p = logp.exp()
    y = F.one_hot(targets, logits.shape[-1]).to(p.dtype)
    f1 = smooth_f1(p, y).detach()
    log1mp = torch.log1p(-p.clamp(max=1.0 - 1e-7))
    loss = -(y * (1.0 - f1 / 2) * logp + (1.0 - y) * (f1 / 2) * log1mp)
    return loss.sum(1).mean()


# --- logit adjustment ------------------------------------------------------------------------------


@method("logit-adjusted", track=TRACK, bounds={"tau": NONNEG})
def logit_adjusted(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Logit-adjusted loss (Menon et al. 2020): CE on f + tau log prior. Predict with argmax f,
    which targets balanced accuracy; tau=0 is plain CE."""
    return F.cross_entropy(logits + tau * log_prior(prior).to(logits.dtype), targets)


def posthoc_adjust(logits: torch.Tensor, prior: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Post-hoc logit adjustment: scores f - tau log prior (argmax = the balanced-error rule)."""
    return logits - tau * log_prior(prior).to(logits.dtype)


@method("posthoc-la", track=TRACK, bounds={"tau": NONNEG}, adjust=posthoc_adjust, trains_as="ce")
def posthoc_la(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Post-hoc logit adjustment (Menon et al. 2020): train with plain CE (ERM), then predict with
    argmax f - tau log prior (the track applies ``posthoc_adjust``). tau only acts at prediction, so the
    cells of one seed share the ``ce`` model (``trains_as``: trained once, every tau applied to it)."""
    return F.cross_entropy(logits, targets)


@method("balanced-softmax", track=TRACK)
def balanced_softmax(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Balanced softmax (Ren et al. 2020): CE on f + log n_c. Because log n_c = log prior_c + const,
    this is exactly the logit-adjusted loss with tau = 1 (a unit test checks it)."""
    return F.cross_entropy(logits + log_prior(prior).to(logits.dtype), targets)
