"""The igr training loop: full-batch GD or mini-batch SGD under one of three stopping protocols.

``time``: a fixed physical time T = sum of step sizes (Barrett & Dherin's view: every lr travels
the same distance along its modified flow). ``epochs``: a fixed number of passes over the training
set, i.e. equal compute (Smith et al. 2021 compare SGD learning rates this way). ``converge``: train
until the full-batch training loss reaches the block's ``target_loss``, at most ``max_steps``
updates, so every arm is compared at the same training loss. GD computes the full-batch loss at
every step anyway and stops at the first step that reaches the target; SGD checks it once per epoch
(a full-batch pass is not free).

The loop trains K members at once (a cell group; K = 1 for a single cell) on a
``harness.models.stacked.StackedNet``, without a host sync per step: the learning rates of every
step are known before the loop (a table), SGD's batch indices are drawn from each member's own
generator in the single cell's order and uploaded once per epoch, losses go to a device buffer and
the target and divergence checks are device-side masks read every ``CHECK_EVERY`` steps. A member
that reaches a ``converge`` target stops there (its objective is multiplied by a device-side 0, so
its gradient is zero and the update leaves it exactly as it was), whatever the others still do.
After the loop each member's losses are replayed through its own ``RunContext`` by the bookkeeping a
per-step loop did (curves, ``remember``, ``check_finite``), so a member's record, and its ``Diverged``
at the first NaN step, are what a single cell's would be.
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


def lr_table(recipes: list[Recipe], plans: list[Plan], steps: int) -> list[list[float]]:
    """Each step's learning rate per member (0 past a member's budget; an ascent step is negative):
    known before the loop, so the loop never asks the host, and the physical time is their sum."""
    rows = []
    for step in range(steps):
        row = []
        for recipe, plan in zip(recipes, plans):
            lr = 0.0 if step >= plan.steps else recipe.lr * recipe.factor(step / plan.horizon)
            if step < plan.steps and recipe.ascent_lr is not None and step % 2 == 1:
                lr = -recipe.ascent_lr
            row.append(lr)
        rows.append(row)
    return rows


def sgd_batches(gens: list[Any], n: int, batch: int, first: int, count: int, plans: list[Plan], device: Any) -> Any:
    """Batch indices of steps ``first .. first + count - 1`` per member ``[K, count, batch]``: drawn from
    each member's generator exactly as a single cell draws them (one ``randint`` per step), uploaded
    once; a member past its budget draws nothing (zeros)."""
    import torch

    rows = []
    for gen, plan in zip(gens, plans):
        draws = [
            torch.randint(0, n, (batch,), generator=gen) if step < plan.steps else torch.zeros(batch, dtype=torch.long)
            for step in range(first, first + count)
        ]
        rows.append(torch.stack(draws))
    return torch.stack(rows).to(device)


def grad_penalty(grads: list[Any]) -> Any:
    """||grad L||^2 summed over all parameters: EGR's penalty (Barrett & Dherin's R_IG without the mean)."""
    return sum((g * g).sum() for g in grads)


def train(net: Any, data: Any, settings: Any, recipes: list[Recipe], plans: list[Plan], ctxs: list[Any]) -> list[Any]:
    """Run every member's updates; per member a TrainResult, or the exception that ended it."""
    import numpy as np
    import torch

    from harness.engine.context import TrainLoop
    from harness.models.stacked import MemberCalls, member_cross_entropy, member_view

    s, k = settings, net.members
    params = net.params
    n = data.x_train.shape[0]
    steps = max(p.steps for p in plans)
    target = s.target_loss if s.target_loss > 0 else None
    converge = target is not None and s.protocol == "converge"
    table = lr_table(recipes, plans, steps)
    uniform = [all(v == row[0] for v in row) for row in table]
    neg_lr = None if all(uniform) else -torch.tensor(table, dtype=params[0].dtype, device=net.device)
    floods = [r.flood for r in recipes]
    flood_t = None
    if any(f is not None for f in floods) and len(set(floods)) > 1:
        flood_t = torch.tensor([f or 0.0 for f in floods], device=net.device)
        has_flood = torch.tensor([f is not None for f in floods], device=net.device)
    mus = [r.egr_mu for r in recipes]
    mu_t = torch.tensor(mus, device=net.device) if len(set(mus)) > 1 else mus[0]
    penalty = MemberCalls([grad_penalty] * k) if any(mus) else None

    def objective(xb: Any, yb: Any) -> tuple[Any, Any]:
        loss = member_cross_entropy(net(xb, shared=s.optimizer == "gd"), yb)
        obj = loss
        if flood_t is not None:
            obj = torch.where(has_flood, (loss - flood_t).abs() + flood_t, loss)
        elif floods[0] is not None:
            obj = (loss - floods[0]).abs() + floods[0]
        if penalty is not None:
            grads = torch.autograd.grad(loss.sum(), params, create_graph=True)
            obj = obj + mu_t * penalty(list(grads))
        return loss, obj

    per_epoch = plans[0].steps_per_epoch
    epochs = -(-steps // per_epoch)
    gens = [ctx.generator("data") for ctx in ctxs]
    active = torch.ones(k, dtype=params[0].dtype, device=net.device)  # 0 once a member reached its target
    below = float(np.nextafter(np.float32(target), np.float32(-np.inf))) if converge else 0.0
    if converge and np.float32(target) <= target:
        below = float(np.float32(target))  # loss <= below in float32 exactly when loss <= target in double
    loop = TrainLoop(ctxs, steps, ("train_loss",), str(net.device))
    full = torch.full((max(1, epochs), k), float("nan"), device=net.device)
    ran = 0
    with loop:
        for step in range(steps):
            if s.optimizer == "gd":
                xb, yb = data.x_train, data.y_train
            else:
                if step % per_epoch == 0:
                    batches = sgd_batches(gens, n, s.batch_size, step, min(per_epoch, steps - step), plans, net.device)
                idx = batches[:, step % per_epoch]
                xb, yb = data.x_train[idx], data.y_train[idx]
            loss, obj = objective(xb, yb)
            loop.record(step, train_loss=loss)
            if converge and s.optimizer == "gd":  # the loss before update `step` is the loss after `step` updates
                active.mul_(loss.detach() > below)
            # a member that reached its target stops: its objective times 0 gives it zero gradients (and
            # times 1 the others their own, exactly), so the update leaves it exactly as it was
            grads = torch.autograd.grad((obj * active).sum() if converge else obj.sum(), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    if uniform[step]:  # every member at one lr: the single cell's own update
                        p.add_(g, alpha=-table[step][0])
                    else:  # the same per element (``addcmul_`` by -lr rounds as ``add_`` with alpha -lr)
                        p.addcmul_(g, member_view(neg_lr[step], g))
            ran = step + 1
            if converge and s.optimizer == "sgd" and ran % per_epoch == 0:
                with torch.no_grad():
                    full[ran // per_epoch - 1] = member_cross_entropy(net(data.x_train, shared=True), data.y_train)
                active.mul_(full[ran // per_epoch - 1] > below)
            if loop.due(step) or ran == steps:
                alive, training = loop.poll(active) if converge else (loop.poll()[0], [1] * k)
                if not any(a and t for a, t in zip(alive, training)):
                    break  # every member diverged or reached its target
    values = loop.host_values(ran)["train_loss"]
    checks = full.T.tolist()
    rows = n if s.optimizer == "gd" else s.batch_size
    out: list[Any] = []
    for i, ctx in enumerate(ctxs):
        try:
            out.append(_replay(values[i], checks[i], [row[i] for row in table], plans[i], s, target, rows, ctx))
        except Exception as exc:  # Diverged at the member's first NaN step, as a single cell
            out.append(exc)
    return out


def _replay(
    losses: list[float], checks: list[float], lrs: list[float], plan: Plan, s: Any, target: Any, rows: int, ctx: Any
) -> TrainResult:
    """One member's per-step bookkeeping, as the per-step loop did it, from its recorded losses."""
    log_every = max(1, plan.steps // s.curve_points)
    steps_to_target = math.nan
    t_phys = 0.0
    done = 0
    for step in range(min(plan.steps, len(losses))):
        value = ctx.check_finite(losses[step], "train loss", step)
        if s.optimizer == "gd" and target is not None and value <= target and math.isnan(steps_to_target):
            steps_to_target = step
            if s.protocol == "converge":
                ctx.log("train_loss", step, value)
                break
        lr = lrs[step]
        done = step + 1
        t_phys += lr
        ctx.samples_seen += rows
        if step % log_every == 0 or done == plan.steps:
            ctx.log("train_loss", step, value)
            ctx.remember(train_loss=value, steps=done, physical_time=t_phys)
        if s.optimizer == "sgd" and target is not None and s.protocol == "converge" and done % plan.check_every == 0:
            if ctx.check_finite(checks[done // plan.check_every - 1], "full-batch train loss", step) <= target:
                steps_to_target = done
                break
    return TrainResult(done, t_phys, steps_to_target)
