"""The papers' CIFAR networks: Menon et al.'s ResNet-32 (imbalance) and a Wide-ResNet (igr).

``resnet32``: the network of Menon et al.'s official logit-adjustment code (google-research
``logit_adjustment/models.py``, ``cifar_resnet32``), rebuilt from its description: stem = zero-pad
3, a valid 3x3 conv to 16 channels (so 32x32 inputs become 36x36), BN, ReLU; three stages of five
bottleneck-shaped blocks (1x1, 3x3, 1x1 convolutions, all of the stage's width 16 / 32 / 64, stride
1 / 2 / 2 on the 3x3 of the first block, whose shortcut is a strided 1x1 conv + BN; the others add
the identity); a final BN (no ReLU), the spatial mean, and a dense layer. Convolutions have no bias
and He-normal weights (Keras's ``he_normal``: a normal truncated at two standard deviations); the
dense layer is drawn from N(0, 0.01^2) with a zero bias; BN uses eps 1e-5 and Keras momentum 0.9
(PyTorch momentum 0.1). A stride-2 3x3 "same" convolution pads as TensorFlow does (one extra row
and column at the bottom and right). Keras's L2 of 1e-4 on every convolution kernel and on the
dense kernel and bias is weight decay 2e-4 on exactly those tensors: ``decayed_parameters``.

``wide_resnet``: WRN-d-k of Zagoruyko & Komodakis (2016): a 3x3 stem conv to 16 channels, three
groups of (d - 4) / 6 pre-activation basic blocks (BN, ReLU, 3x3 conv, BN, ReLU, 3x3 conv) of width
16k / 32k / 64k, strides 1 / 2 / 2, a 1x1 conv shortcut where the shape changes, then BN, ReLU,
global average pooling and a linear layer; convolutions He-normal (fan out), no dropout. Smith et
al. 2021 compare SGD learning rates on a WRN-10-1 on CIFAR-10 (the igr track's paper block).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5
KERAS_BN_MOMENTUM = 0.1  # PyTorch's momentum is 1 - Keras's (0.9)
_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]: Keras rescales by it


def keras_he_normal_(weight: torch.Tensor) -> None:
    """Keras ``he_normal``: N(0, 2 / fan_in) truncated at two standard deviations (rescaled to keep
    the variance), which is what the official ResNet-32 draws its kernels from."""
    fan_in = weight[0].numel()
    std = math.sqrt(2.0 / fan_in) / _TRUNC_STD
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


class TFSameConv(nn.Conv2d):
    """A 3x3 convolution with TensorFlow's "same" padding: at stride 2 on an even size the extra
    padding row and column go at the bottom and right (PyTorch's symmetric padding would shift the
    sampling grid by a pixel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        size = x.shape[-1]
        out = math.ceil(size / s)
        pad = max((out - 1) * s + k - size, 0)
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        return F.conv2d(x, self.weight, None, self.stride)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=KERAS_BN_MOMENTUM)


class BottleneckShaped(nn.Module):
    """One block of the official ResNet-32: 1x1 -> 3x3 (stride) -> 1x1, each conv followed by BN, a
    ReLU after the first two; the sum with the shortcut goes through a ReLU."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False),
            _bn(width),
            nn.ReLU(),
            TFSameConv(width, width, 3, stride=stride, bias=False),
            _bn(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 1, bias=False),
            _bn(width),
        )
        project = stride != 1 or c_in != width
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, width, 1, stride=stride, bias=False), _bn(width)) if project else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.branch(x) + skip)


class MeanPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def resnet32(num_classes: int) -> nn.Sequential:
    """Menon et al.'s CIFAR ResNet-32 (stages (5, 16, 1), (5, 32, 2), (5, 64, 2)); see the module doc."""
    layers: list[nn.Module] = [nn.ZeroPad2d(3), nn.Conv2d(3, 16, 3, bias=False), _bn(16), nn.ReLU()]
    c_in = 16
    for blocks, width, stride in ((5, 16, 1), (5, 32, 2), (5, 64, 2)):
        for i in range(blocks):
            layers.append(BottleneckShaped(c_in, width, stride if i == 0 else 1))
            c_in = width
    head = nn.Linear(c_in, num_classes)
    layers += [_bn(c_in), MeanPool(), head]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            keras_he_normal_(m.weight)
    nn.init.normal_(head.weight, 0.0, 0.01)
    nn.init.zeros_(head.bias)
    return model


class PreActBlock(nn.Module):
    """WRN's basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3, with a 1x1 conv shortcut (taken after the
    first BN-ReLU, as in the reference code) where the width or the stride changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        project = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(act)
        return self.conv2(F.relu(self.bn2(self.conv1(act)))) + skip


def wide_resnet(depth: int, widen: int, num_classes: int) -> nn.Sequential:
    """WRN-depth-widen for 32x32 RGB inputs (depth = 6n + 4, n blocks per group)."""
    if (depth - 4) % 6 or depth < 10:
        raise ValueError(f"a Wide-ResNet's depth is 6n + 4 with n >= 1, got {depth}")
    n = (depth - 4) // 6
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False)]
    c_in = 16
    for width, stride in ((16 * widen, 1), (32 * widen, 2), (64 * widen, 2)):
        for i in range(n):
            layers.append(PreActBlock(c_in, width, stride if i == 0 else 1))
            c_in = width
    layers += [nn.BatchNorm2d(c_in), nn.ReLU(), MeanPool(), nn.Linear(c_in, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


# The paper networks by the name a track's ``model`` setting uses.
PAPER_MODELS = {"resnet32": lambda k: resnet32(k), "wrn-10-1": lambda k: wide_resnet(10, 1, k)}


def make_paper_model(name: str, num_classes: int) -> nn.Sequential:
    if name not in PAPER_MODELS:
        raise ValueError(f"unknown paper model {name!r} (known: {', '.join(PAPER_MODELS)})")
    return PAPER_MODELS[name](num_classes)


def decayed_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights that take L2 / weight decay, the rest): convolution and linear weights and the linear
    bias decay, BatchNorm's scale and shift do not (the official ResNet-32 regularises exactly these)."""
    decay, keep = [], []
    for module in model.modules():
        is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for p in module.parameters(recurse=False):
            (keep if is_bn else decay).append(p)
    return decay, keep


def to_memory_format(obj: Any, precision: str) -> Any:
    """A module or an image batch in channels-last memory order when ``precision`` asks for it
    (``--precision ...+channels-last``); unchanged otherwise and for tensors that are not 4-D."""
    from harness.engine.precision import channels_last

    if not channels_last(precision) or (isinstance(obj, torch.Tensor) and obj.dim() != 4):
        return obj
    if isinstance(obj, nn.Module):
        return obj.to(memory_format=torch.channels_last)
    return obj.contiguous(memory_format=torch.channels_last)


def chunked_logits(model: nn.Module, x: torch.Tensor, batch: int, precision: str = "fp32") -> torch.Tensor:
    """The model's outputs on ``x`` in eval mode, ``batch`` rows at a time (a paper network's
    activations on a whole split would not fit); the mode the model was in is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outs = [model(to_memory_format(x[i : i + batch], precision)) for i in range(0, len(x), batch)]
    finally:
        model.train(was_training)
    return torch.cat(outs)
