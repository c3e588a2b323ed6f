"""IGR baseline: the smallest constant learning rate, the closest GD gets to gradient flow."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.igr.recipe import Recipe


@method("small-lr", track="igr", baseline=True, bounds={"lr": (1e-6, 10.0)})
def small_lr(lr: float = 0.02) -> Recipe:
    """Plain GD/SGD at a small step h: the implicit (h/4)||grad L||^2 term is negligible."""
    return Recipe(lr=lr)
