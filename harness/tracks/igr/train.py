"""The igr training loop: full-batch GD or mini-batch SGD under one of three stopping protocols.

``time``: a fixed physical time T = sum of step sizes (Barrett & Dherin's view: every lr travels
the same distance along its modified flow). ``epochs``: a fixed number of passes over the training
set, i.e. equal compute (Smith et al. 2021 compare SGD learning rates this way). ``converge``: train
until the full-batch training loss reaches the block's ``target_loss``, at most ``max_steps``
updates, so every arm is compared at the same training loss. GD computes the full-batch loss at
every step anyway and stops at the first step that reaches the target; SGD checks it once per epoch
(a full-batch pass is not free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.tracks.igr.recipe import Recipe

OPTIMIZERS = ("gd", "sgd")
PROTOCOLS = ("time", "epochs", "converge")


@dataclass
class Plan:
    """How many updates a cell may take and over what horizon its lr schedule runs."""

    steps: int  # the update budget (converge: the cap; it may stop earlier)
    horizon: int  # the step count the schedule's progress fraction is measured against
    steps_per_epoch: int
    check_every: int  # converge: evaluate the full-batch train loss every this many steps


def check_protocol(settings: Any) -> None:
    """A one-line HarnessError when the settings cannot define a step budget (checked before a run)."""
    s = settings
    if s.optimizer not in OPTIMIZERS:
        raise HarnessError(f"igr: optimizer must be one of {list(OPTIMIZERS)}, got {s.optimizer!r}")
    if s.protocol not in PROTOCOLS:
        raise HarnessError(f"igr: protocol must be one of {list(PROTOCOLS)}, got {s.protocol!r}")
    if s.protocol == "epochs" and s.epochs <= 0:
        raise HarnessError('igr: protocol = "epochs" needs epochs > 0 in the block\'s settings')
    if s.protocol == "converge" and s.target_loss <= 0:
        raise HarnessError('igr: protocol = "converge" needs a target: set target_loss > 0 in the settings')


def plan_steps(settings: Any, recipe: Recipe, n_train: int) -> Plan:
    """The step budget the protocol gives one cell (a one-line HarnessError on a bad protocol)."""
    s = settings
    check_protocol(s)
    per_epoch = 1 if s.optimizer == "gd" else max(1, math.ceil(n_train / s.batch_size))
    if s.protocol == "time":
        steps = recipe.steps_for(s.time)
    elif s.protocol == "epochs":
        steps = max(1, math.ceil(s.epochs * per_epoch - 1e-9))
    else:  # converge: the cap; training stops at the target
        steps = s.max_steps
    steps = min(steps, s.max_steps)
    return Plan(steps, steps, per_epoch, 1 if s.optimizer == "gd" else per_epoch)


@dataclass
class TrainResult:
    steps: int
    physical_time: float
    steps_to_target: float  # NaN when the target was not reached (or none was set)


def train(model: Any, data: Any, settings: Any, recipe: Recipe, plan: Plan, ctx: Any) -> TrainResult:
    """Run the cell's updates; return how many were taken and when the target loss was first reached."""
    import torch
    import torch.nn.functional as F

    s = settings
    params = list(model.parameters())
    gen = ctx.generator("data")
    n = data.x_train.shape[0]
    log_every = max(1, plan.steps // s.curve_points)
    target = s.target_loss if s.target_loss > 0 else None
    steps_to_target = math.nan
    t_phys = 0.0

    def objective(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = F.cross_entropy(model(xb), yb)
        obj = loss
        if recipe.flood is not None:
            obj = (loss - recipe.flood).abs() + recipe.flood
        if recipe.egr_mu:
            grads = torch.autograd.grad(loss, params, create_graph=True)
            obj = obj + recipe.egr_mu * sum((g * g).sum() for g in grads)
        return loss, obj

    def full_loss() -> float:
        with torch.no_grad():
            return F.cross_entropy(model(data.x_train), data.y_train).item()

    done = 0
    for step in range(plan.steps):
        if s.optimizer == "gd":
            xb, yb = data.x_train, data.y_train
        else:
            idx = torch.randint(0, n, (s.batch_size,), generator=gen).to(ctx.device)
            xb, yb = data.x_train[idx], data.y_train[idx]
        with ctx.train_timer():
            loss, obj = objective(xb, yb)
        value = ctx.check_finite(loss.item(), "train loss", step)
        if s.optimizer == "gd" and target is not None and value <= target and math.isnan(steps_to_target):
            steps_to_target = step  # the loss before update `step` is the loss after `step` updates
            if s.protocol == "converge":
                ctx.log("train_loss", step, value)
                break
        with ctx.train_timer():
            lr = recipe.lr * recipe.factor(step / plan.horizon)
            if recipe.ascent_lr is not None and step % 2 == 1:
                lr = -recipe.ascent_lr
            grads = torch.autograd.grad(obj, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p.add_(g, alpha=-lr)
        done = step + 1
        t_phys += lr
        ctx.samples_seen += xb.shape[0]
        if step % log_every == 0 or done == plan.steps:
            ctx.log("train_loss", step, value)
            ctx.remember(train_loss=value, steps=done, physical_time=t_phys)
        if s.optimizer == "sgd" and target is not None and s.protocol == "converge" and done % plan.check_every == 0:
            if ctx.check_finite(full_loss(), "full-batch train loss", step) <= target:
                steps_to_target = done
                break
    return TrainResult(done, t_phys, steps_to_target)
