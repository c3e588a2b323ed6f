"""The container image-style and vector-style datasets return: tensors for three splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TensorSplits:
    """Train/valid/test tensors for a classification dataset.

    ``x_*`` are float tensors (N, ...) and ``y_*`` int64 labels. ``valid`` may be empty (0 rows)
    when a source has no validation split; tracks that tune on validation say so.
    """

    name: str
    x_train: Any
    y_train: Any
    x_valid: Any
    y_valid: Any
    x_test: Any
    y_test: Any
    num_classes: int
    meta: dict | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def input_dim(self) -> int:
        n = 1
        for d in self.input_shape:
            n *= d
        return n

    def to(self, device: str) -> TensorSplits:
        """Move every split to ``device`` once, so batches stay on the device during training."""
        moved = {
            k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test")
        }
        return TensorSplits(self.name, **moved, num_classes=self.num_classes, meta=self.meta)
