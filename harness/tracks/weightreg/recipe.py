"""What a weightreg method returns: a coupled penalty on the weights and/or a decoupled decay."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """What a weightreg method returns.

    ``penalty(weights) -> scalar tensor`` is added to the loss (its gradient flows through the
    optimiser, like coupled L2); ``decoupled_decay`` shrinks the weights directly each step,
    outside the optimiser's preconditioning (AdamW). ``weights`` is always ``weight_parameters``.
    """

    penalty: Callable[[list], Any] | None = None
    decoupled_decay: float = 0.0
