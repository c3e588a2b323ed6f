"""The imbalance training loop over K trainings at once (a cell group; K = 1 for a single cell).

A training is one model: a cell's own, or one that several cells share because they differ only at
prediction (``posthoc-la[tau]`` trains exactly the ``ce`` model of its seed: ``Imbalance.shared_training``).
Each training is the single cell it stands for: its initialisation (built under its seed by the
caller, then stacked), its epoch order (a permutation, or the class-balanced draw of ``resample``,
from its own generator, uploaded once per epoch), its loss (``MemberCalls``: one vmap per loss
function, each member's parameters such as tau as tensors), and one elementwise optimizer over the
stacked parameters (SGD with momentum and weight decay, or Adam: exactly K independent ones) with
the cosine schedule every member shares. Nothing is read on the host per step; losses are replayed
through each cell's ``RunContext`` after the loop (curves, ``remember``, ``check_finite``).
"""

from __future__ import annotations

import math
from typing import Any


def epoch_orders(gens: list[Any], samplers: list[Any], row_weight: Any, n: int, full_batch: bool, device: Any) -> Any:
    """One epoch's row order per training ``[K, n]``, each drawn from its own generator as a single
    cell draws it: class-balanced rows with replacement for a ``class-balanced`` sampler, else a
    permutation (none for full batches), uploaded once."""
    import torch

    orders = []
    for gen, sampler in zip(gens, samplers):
        if sampler is not None:
            orders.append(torch.multinomial(row_weight, n, replacement=True, generator=gen))
        else:
            orders.append(torch.randperm(n, generator=gen) if not full_batch else torch.arange(n))
    return torch.stack(orders).to(device)


def train(
    net: Any, data: Any, s: Any, losses: list[Any], samplers: list[Any], prior: Any, ctxs: list[Any], timed: list[Any]
) -> list[list[float]]:
    """Train every member (``losses[k]``: its loss function with its parameters bound); returns each
    member's per-step losses (host floats). ``timed``: the contexts that share the loop's time."""
    import torch

    from harness.engine.context import TrainLoop
    from harness.models.stacked import MemberCalls

    params = net.params
    if s.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    n = len(data.y_train)
    bs = n if s.batch_size <= 0 else min(s.batch_size, n)
    steps_per_epoch = math.ceil(n / bs)
    total = s.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total) if s.schedule == "cosine" else None
    row_weight = None
    if any(sampler is not None for sampler in samplers):
        counts = torch.bincount(data.y_train.cpu(), minlength=data.num_classes)
        row_weight = (1.0 / counts.to(torch.float32))[data.y_train.cpu()]
    gens = [ctx.generator("data") for ctx in ctxs]
    loss_fn = MemberCalls(losses)
    loop = TrainLoop(ctxs, total, ("train_loss",), str(net.device), timed=timed)
    step = 0
    net_train(net)
    with loop:
        for _ in range(s.epochs):
            order = epoch_orders(gens, samplers, row_weight, n, bs >= n, net.device)
            for i in range(steps_per_epoch):
                idx = order[:, i * bs : (i + 1) * bs]
                loss = loss_fn(net(data.x_train[idx]), data.y_train[idx], shared=(prior,))
                loop.record(step, train_loss=loss)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
                if sched is not None:
                    sched.step()
                step += 1
                if loop.due(step - 1) and not any(loop.poll()[0]):
                    return loop.host_values(step)["train_loss"]  # every member diverged
    return loop.host_values(step)["train_loss"]


def net_train(net: Any) -> None:
    """Train mode for every member's module (their layers run the forward)."""
    for module in net.modules:
        module.train()


def replay(values: list[float], n: int, bs: int, epochs: int, ctx: Any) -> float:
    """One cell's bookkeeping, as the per-step loop did it, from its training's losses; returns the
    final epoch's mean training loss (``Diverged`` at the first NaN step)."""
    steps_per_epoch = math.ceil(n / bs)
    step, epoch_loss = 0, 0.0
    for epoch in range(epochs):
        epoch_loss = 0.0
        for i in range(steps_per_epoch):
            rows = min(bs, n - i * bs)
            loss_value = ctx.check_finite(values[step] if step < len(values) else math.nan, step=step)
            ctx.samples_seen += rows
            epoch_loss += loss_value * rows
            step += 1
        ctx.log("train_loss", epoch + 1, epoch_loss / n)
        ctx.remember(train_loss=epoch_loss / n)
    return epoch_loss / n
