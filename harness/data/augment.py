"""The CIFAR training augmentation (zero-pad, random crop, random horizontal flip) on the device.

Why here and not in a data loader: the paper networks keep the whole training set on the device
(``TensorSplits.to``), so the augmentation is one gather per batch on the device instead of per-image
work on the host. The random draws (crop offsets and flips for every row of an epoch) come from a
CPU generator and are uploaded once per epoch, so a CPU run and a GPU run of a cell see the same
augmented images and no step waits on the host.

Semantics match torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()`` and
Menon et al.'s ``resize_with_crop_or_pad`` + ``random_crop`` + ``random_flip_left_right``: the
padding is zeros (of the inputs as the model sees them), every offset in [0, 2 * pad] equally likely.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAD = 4


@dataclass
class EpochDraws:
    """One epoch's random crop offsets and flips, one per training row, on the device."""

    dy: torch.Tensor
    dx: torch.Tensor
    flip: torch.Tensor


def draw_epoch(n: int, generator: torch.Generator, device: str | torch.device, pad: int = PAD) -> EpochDraws:
    """Offsets in [0, 2 * pad] and fair-coin flips for ``n`` rows, drawn on the CPU, moved once."""
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return EpochDraws(dy.to(device), dx.to(device), flip.to(device))


def crop_flip(x: torch.Tensor, rows: torch.Tensor, draws: EpochDraws, pad: int = PAD) -> torch.Tensor:
    """The batch ``x`` (N, C, H, W) cropped and flipped by the epoch's draws of its training ``rows``.

    One gather: the padded batch is indexed at (row offset + i, column offset + j), with j reversed
    for the flipped rows. The result is laid out channels-last in memory (N, H, W, C underneath)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy, dx, flip = draws.dy[rows], draws.dx[rows], draws.flip[rows]
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    ys = dy[:, None] + ar_h[None, :]
    xs = dx[:, None] + torch.where(flip[:, None], (w - 1) - ar_w[None, :], ar_w[None, :])
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded[batch, :, ys[:, :, None], xs[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)
