"""Small ReLU MLPs shared by the image tracks (no normalisation layers: they add scale invariances)."""

from __future__ import annotations

import torch
from torch import nn


def make_mlp(
    in_dim: int, hidden: int | list[int] | tuple[int, ...], out_dim: int, depth: int = 2, bias: bool = True
) -> nn.Sequential:
    """Flatten -> [Linear -> ReLU] x depth -> Linear. ``hidden`` may be one width or a list of widths."""
    widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * depth
    layers: list[nn.Module] = [nn.Flatten()]
    prev = in_dim
    for w in widths:
        layers += [nn.Linear(prev, w, bias=bias), nn.ReLU()]
        prev = w
    layers.append(nn.Linear(prev, out_dim, bias=bias))
    return nn.Sequential(*layers)


def linear_layers(model: nn.Module) -> list[nn.Module]:
    """The weight-carrying layers (Linear/Conv) in forward order."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]


def weight_parameters(model: nn.Module) -> list[torch.Tensor]:
    """Weights only (no biases): what every weight regulariser in this project penalises."""
    return [m.weight for m in linear_layers(model)]
