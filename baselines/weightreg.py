"""Baseline of the weightreg track: no weight regularisation at all."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.weightreg.recipe import Regularizer


@method("none", track="weightreg", baseline=True)
def none() -> Regularizer:
    """Plain cross-entropy training: the reference every regulariser is compared against."""
    return Regularizer()
