"""What an IGR method is: a training recipe (learning-rate schedule and loss modifier).

Methods in ``methods/igr.py`` return a Recipe; the track turns it into a training loop at a fixed
physical time T = sum of step sizes, so a large-lr run takes fewer steps than a small-lr one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    lr: float
    schedule: str = "constant"  # constant | step | cosine | warmup-linear
    step_factor: float = 0.1  # step: multiply lr by this at each drop
    step_drops: int = 2  # step: number of evenly spaced drops
    warmup_frac: float = 0.0  # warmup-linear: fraction of steps spent warming up
    egr_mu: float = 0.0  # explicit gradient regularisation: loss + mu * ||grad L||^2
    flood: float | None = None  # flooding level b: |L - b| + b
    ascent_lr: float | None = None  # Su's descent/ascent: alternate +lr and -ascent_lr steps

    def factor(self, frac: float) -> float:
        """Learning-rate multiplier at training progress ``frac`` in [0, 1)."""
        if self.schedule == "constant":
            return 1.0
        if self.schedule == "step":
            drop = min(self.step_drops, int(frac * (self.step_drops + 1)))
            return self.step_factor**drop
        if self.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * frac))
        if self.schedule == "warmup-linear":
            w = self.warmup_frac
            return frac / w if (w > 0 and frac < w) else max(0.0, (1.0 - frac) / (1.0 - w))
        raise ValueError(f"unknown schedule {self.schedule!r}")

    def mean_factor(self, grid: int = 10000) -> float:
        """Average multiplier over training, to convert physical time into a step count."""
        return sum(self.factor((i + 0.5) / grid) for i in range(grid)) / grid

    @property
    def effective_lr(self) -> float:
        """Net step size per update (descent/ascent pairs move by lr - ascent_lr per two steps)."""
        if self.ascent_lr is not None:
            return (self.lr - self.ascent_lr) / 2.0
        return self.lr * self.mean_factor()

    def steps_for(self, physical_time: float) -> int:
        return max(1, int(math.ceil(physical_time / self.effective_lr - 1e-9)))
