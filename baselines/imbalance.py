"""Baseline of the imbalance track: plain cross-entropy (ERM), predicting with argmax f."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.registry import method


@method("ce", track="imbalance", baseline=True)
def ce(logits: torch.Tensor, targets: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Empirical risk minimisation with softmax cross-entropy; ignores the class prior."""
    return F.cross_entropy(logits, targets)
