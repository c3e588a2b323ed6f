"""Weight-scale shifts of positively homogeneous networks (Liu et al. 2020; Su 2020, post 7681).

For a ReLU network without normalisation, multiplying layer l's weights by gamma_l multiplies the
output by prod(gamma_l); with prod(gamma_l) = 1 the function is unchanged, *provided* each bias is
multiplied by the running product gamma_1 * ... * gamma_l (the scale the pre-activation carries at
that depth). Su's post scales b_l by gamma_l alone, which is exact only for bias-free layers:
``su_rescale_`` implements that variant so a test can show the difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from harness.models.mlp import linear_layers


def _check(model: nn.Module, gammas: Sequence[float]) -> list[nn.Module]:
    layers = linear_layers(model)
    if len(gammas) != len(layers):
        raise ValueError(f"need one factor per weight layer: {len(layers)} layers, {len(gammas)} factors")
    if any(not (g > 0 and math.isfinite(g)) for g in gammas):
        raise ValueError(f"factors must be positive and finite, got {list(gammas)}")
    return layers


@torch.no_grad()
def rescale_(model: nn.Module, gammas: Sequence[float]) -> nn.Module:
    """In place: W_l *= gamma_l and b_l *= prod_{k<=l} gamma_k. Output scales by prod(gammas)."""
    running = 1.0
    for layer, g in zip(_check(model, gammas), gammas):
        running *= g
        layer.weight.mul_(g)
        if layer.bias is not None:
            layer.bias.mul_(running)
    return model


@torch.no_grad()
def su_rescale_(model: nn.Module, gammas: Sequence[float]) -> nn.Module:
    """In place, Su's per-layer variant: W_l *= gamma_l and b_l *= gamma_l (wrong with biases)."""
    for layer, g in zip(_check(model, gammas), gammas):
        layer.weight.mul_(g)
        if layer.bias is not None:
            layer.bias.mul_(g)
    return model


def layer_norms(model: nn.Module) -> list[float]:
    """Frobenius norm of each weight layer, in forward order."""
    return [float(m.weight.detach().norm()) for m in linear_layers(model)]


def balancing_factors(norms: Sequence[float]) -> list[float]:
    """Factors with product 1 that make every layer norm equal to the geometric mean of ``norms``.

    Among all shifts with prod(gamma) = 1 this one minimises sum_l ||gamma_l W_l||^2 (AM-GM on the
    squared norms, whose product is fixed): L2 can always be lowered this way without changing the
    function, which is why L2 does not measure the network's intrinsic norm.
    """
    if any(not (n > 0 and math.isfinite(n)) for n in norms):
        raise ValueError(f"layer norms must be positive and finite, got {list(norms)}")
    geo = math.exp(sum(math.log(n) for n in norms) / len(norms))
    return [geo / n for n in norms]


def balance_(model: nn.Module) -> list[float]:
    """Apply the L2-minimal function-preserving shift in place; returns the factors used."""
    gammas = balancing_factors(layer_norms(model))
    rescale_(model, gammas)
    return gammas
