"""One small ReLU CNN for the image tracks: 2-D for square images (MNIST, digits), 1-D for signals.

No normalisation layers and only positively homogeneous pieces (conv, ReLU, max-pool, linear),
so rescaling consecutive layers by factors whose product is 1 leaves the function unchanged,
exactly as for the MLPs: the weightreg track relies on that.
"""

from __future__ import annotations

import math

from torch import nn


class Reshape(nn.Module):
    """Reshape flat rows to ``shape`` (per example); a no-op when they already have it."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def cnn_input_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(C, H, W) or (C, L) the CNN sees: images keep their shape, a flat vector whose length is a
    square of at least 64 becomes a one-channel square image (MNIST 784 -> 28x28, digits 64 -> 8x8),
    any other flat vector a one-channel 1-D signal (MNIST-1D 40)."""
    if len(input_shape) in (2, 3):
        return tuple(input_shape)
    if len(input_shape) != 1:
        raise ValueError(f"cnn: unsupported input shape {input_shape}")
    n = input_shape[0]
    side = math.isqrt(n)
    return (1, side, side) if side * side == n and n >= 64 else (1, n)


def make_cnn(
    input_shape: tuple[int, ...], num_classes: int, channels: tuple[int, ...] = (16, 32), bias: bool = True
) -> nn.Sequential:
    """[Conv(k=3, same padding) -> ReLU -> MaxPool(2)] per entry of ``channels`` -> Flatten -> Linear."""
    shape = cnn_input_shape(tuple(input_shape))
    two_d = len(shape) == 3
    conv, pool = (nn.Conv2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.MaxPool1d)
    layers: list[nn.Module] = [Reshape(shape)]
    prev, spatial = shape[0], list(shape[1:])
    for c in channels:
        layers += [conv(prev, c, kernel_size=3, padding=1, bias=bias), nn.ReLU(), pool(2)]
        prev, spatial = c, [s // 2 for s in spatial]
        if min(spatial) < 1:
            raise ValueError(f"cnn: input {input_shape} is too small for {len(channels)} pooling stages")
    flat = prev * math.prod(spatial)
    layers += [nn.Flatten(), nn.Linear(flat, num_classes, bias=bias)]
    return nn.Sequential(*layers)
