"""Weight regularisers for ReLU networks: coupled L2, decoupled weight decay, WEISSI.

Every penalty takes ``weights`` = ``harness.models.mlp.weight_parameters(model)`` (Linear/Conv
weights, never biases), so all methods regularise the same parameters. Coefficients are bounded
below by 0: a negative value is a one-line error, not a silently anti-regularised run.

A penalty is a ``functools.partial`` of a plain function with its coefficients as keywords, so a
cell group can vmap one function over its members with a coefficient per member (a tensor: then
every term is computed, a zero coefficient contributing an exact zero).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from harness.registry import method
from harness.tracks.weightreg.recipe import Regularizer


def l2_penalty(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """sum_l ||W_l||_F^2: changes when layers are rescaled with product 1 (not shift-invariant)."""
    return sum((w * w).sum() for w in weights)


def scaled_l2(weights: Sequence[torch.Tensor], lam: float) -> torch.Tensor:
    """lam * sum_l ||W_l||_F^2 (coupled L2)."""
    return lam * l2_penalty(weights)


def _applies(coef: float | torch.Tensor) -> bool:
    """Whether a term enters: a nonzero number, or a tensor of per-member coefficients."""
    return isinstance(coef, torch.Tensor) or coef != 0


def weissi_penalty(weights: Sequence[torch.Tensor], lam1: float, lam2: float) -> torch.Tensor:
    """lam1 * sum_l log ||W_l||_F + lam2 * sum_l ||W_l / ||W_l||_F||_1 (Liu et al. 2020, Su's form).

    The log term changes by sum_l log gamma_l = 0 under a shift with prod(gamma) = 1 and its
    gradient W_l / ||W_l||^2 scales like the layer's own gradient; the direction term is scale-free.
    """
    total = weights[0].new_zeros(())
    for w in weights:
        norm = w.norm()
        if _applies(lam1):
            total = total + lam1 * torch.log(norm)
        if _applies(lam2):
            total = total + lam2 * w.abs().sum() / norm
    return total


@method("l2", track="weightreg", bounds={"lam": (0.0, None)})
def l2(lam: float = 1e-4) -> Regularizer:
    """Coupled L2: add lam * sum_l ||W_l||_F^2 to the loss (goes through Adam's preconditioning)."""
    return Regularizer(penalty=functools.partial(scaled_l2, lam=lam))


@method("weight-decay", track="weightreg", bounds={"wd": (0.0, None)})
def weight_decay(wd: float = 1e-2) -> Regularizer:
    """Decoupled weight decay (AdamW, Loshchilov & Hutter): W <- W - lr * wd * W each step."""
    return Regularizer(decoupled_decay=wd)


@method("weissi", track="weightreg", bounds={"lam1": (0.0, None), "lam2": (0.0, None)})
def weissi(lam1: float = 1e-2, lam2: float = 1e-4) -> Regularizer:
    """WEISSI (weight-scale-shift-invariant): lam1 * sum log||W_l|| + lam2 * sum ||W_l/||W_l|| ||_1."""
    return Regularizer(penalty=functools.partial(weissi_penalty, lam1=lam1, lam2=lam2))
