"""The igr track's protocol knobs (its ``Settings``), in a module of their own: ``blocks`` (read by the
claims and figures) rebuilds a block's settings from them, and ``protocol`` imports the claims."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IGRSettings:
    optimizer: str = "gd"  # gd: full batch; sgd: mini-batches of batch_size
    protocol: str = "time"  # time | epochs | converge (see harness.tracks.igr.train)
    time: float = 20.0  # protocol=time: physical time T = sum of step sizes
    epochs: float = 0.0  # protocol=epochs: passes over the training set (GD: one step per epoch)
    target_loss: float = 0.0  # the block's target train loss (0 = none): converge stops there; above it = underfit
    max_steps: int = 20000  # cap on updates under every protocol
    hidden: int = 128
    depth: int = 2
    batch_size: int = 64
    hessian_iters: int = 20  # power-iteration steps for lambda_max (0 = do not measure)
    hessian_rows: int = 0  # training rows lambda_max is measured on (0 = all)
    noise_draws: int = 5
    curve_points: int = 25
    model: str = "mlp"  # mlp (hidden x depth ReLU MLP) | wrn-10-1 (Smith et al. 2021's CIFAR-10 network; paper.py)
