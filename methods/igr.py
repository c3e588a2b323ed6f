"""IGR methods (Barrett & Dherin 2021; Su 2020; Ishida et al. 2020): each returns a training Recipe.

GD with step h follows the flow of L + (h/4)||grad L||^2, so the learning rate itself is a
regulariser. These entries sweep it, schedule it, add the penalty explicitly, or get it through
flooding's descent/ascent steps.
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.registry import method
from harness.tracks.igr.recipe import Recipe

LR = (1e-6, 10.0)


@method("constant-lr", track="igr", bounds={"lr": LR})
def constant_lr(lr: float = 0.1) -> Recipe:
    """Constant step h; larger h means a stronger implicit gradient penalty."""
    return Recipe(lr=lr)


@method("step-decay", track="igr", bounds={"lr": LR, "factor": (1e-6, 1.0), "drops": (1, 10)})
def step_decay(lr: float = 0.2, factor: float = 0.1, drops: int = 2) -> Recipe:
    """Start at lr, multiply by ``factor`` at ``drops`` evenly spaced points."""
    return Recipe(lr=lr, schedule="step", step_factor=factor, step_drops=drops)


@method("cosine", track="igr", bounds={"lr": LR})
def cosine(lr: float = 0.2) -> Recipe:
    """Cosine decay from lr to 0."""
    return Recipe(lr=lr, schedule="cosine")


@method("warmup-linear", track="igr", bounds={"lr": LR, "warmup": (0.0, 0.9)})
def warmup_linear(lr: float = 0.2, warmup: float = 0.1) -> Recipe:
    """Linear warm-up over the first ``warmup`` fraction of steps, then linear decay to 0."""
    return Recipe(lr=lr, schedule="warmup-linear", warmup_frac=warmup)


@method("egr", track="igr", bounds={"mu": (0.0, 100.0), "lr": LR})
def egr(mu: float = 0.05, lr: float = 0.02) -> Recipe:
    """Explicit gradient regularisation: minimise L + mu * ||grad L||^2 (double backprop, 2-3x the cost).

    ||grad L||^2 is the sum over all parameters (not the per-parameter mean R_IG of the paper), so
    mu = h/4 mimics the implicit term of a run at step h: the default 0.05 matches h = 0.2. Under
    SGD the penalty is each mini-batch's gradient norm, which is Smith et al.'s (2021) modified loss.
    """
    return Recipe(lr=lr, egr_mu=mu)


@method("flooding", track="igr", bounds={"b": (0.0, 10.0), "lr": LR})
def flooding(b: float = 0.05, lr: float = 0.1) -> Recipe:
    """Ishida et al. 2020: train on |L - b| + b, which alternates descent and ascent below b."""
    return Recipe(lr=lr, flood=b)


@method("descent-ascent", track="igr", bounds={"lr": LR, "ascent_lr": (0.0, 10.0)})
def descent_ascent(lr: float = 0.2, ascent_lr: float = 0.1) -> Recipe:
    """Su's generalisation of flooding: alternate a descent step (lr) and an ascent step (ascent_lr).

    To second order this is GD with step (lr - ascent_lr) on
    L + lr*ascent_lr / (2 (lr - ascent_lr)) * ||grad L||^2.
    """
    if ascent_lr >= lr:
        raise HarnessError(f"descent-ascent: ascent_lr ({ascent_lr}) must be smaller than lr ({lr})")
    return Recipe(lr=lr, ascent_lr=ascent_lr)
