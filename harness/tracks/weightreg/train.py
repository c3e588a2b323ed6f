"""The weightreg training loop over K members at once (a cell group; K = 1 for a single cell).

Every member is the single cell it stands for: its own initialisation (built by the caller under its
seed, stacked), its own epoch permutations (drawn from its own generator, uploaded once per epoch),
its own penalty (``MemberCalls``: one vmap per penalty function with each member's coefficients) and
decoupled decay (a factor per member), and one elementwise optimizer over the stacked parameters
(``torch.optim.Adam`` or SGD with momentum: exactly K independent ones). Nothing is read on the host
per step: losses, validation hits and layer norms go to device buffers, the finite watch is read
every ``CHECK_EVERY`` steps, and after the loop each member's values are replayed through its own
``RunContext`` by the bookkeeping the per-step loop did (curves, ``remember``, ``check_finite``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LOG_EVERY = 50  # steps between train-loss curve points


@dataclass
class TrainResult:
    steps: int
    train_loss: float


def epoch_orders(gens: list[Any], n: int, device: Any) -> Any:
    """One epoch's permutation per member ``[K, n]``: each from its own generator (a single cell's
    draw), uploaded once."""
    import torch

    return torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)


def member_norms(weights: list[Any]) -> Any:
    """Frobenius norm of every weight matrix of every member, ``[layers, K]``."""
    import torch

    return torch.stack([w.detach().flatten(1).norm(dim=1) for w in weights])


def valid_hits(net: Any, x: Any, y: Any, batch: int) -> Any:
    """Correct validation predictions per member ``[K]`` (accuracy = hits / rows, as scikit-learn's)."""
    import torch

    with torch.no_grad():
        chunks = range(0, len(y), batch)
        return sum((net(x[i : i + batch], shared=True).argmax(-1) == y[i : i + batch]).sum(-1) for i in chunks)


def train(net: Any, data: Any, s: Any, regs: list[Any], ctxs: list[Any]) -> list[Any]:
    """Train every member; per member a TrainResult, or the exception that ended it (``Diverged``)."""
    import torch

    from harness.engine.context import TrainLoop
    from harness.models.stacked import MemberCalls, member_cross_entropy, member_view

    k = net.members
    weights = net.named("weight")
    params = net.params
    if s.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=s.lr)
    else:
        opt = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum)
    penalty = MemberCalls([r.penalty for r in regs]) if any(r.penalty is not None for r in regs) else None
    factors = [1.0 - s.lr * r.decoupled_decay for r in regs]
    decay: Any = None
    if any(r.decoupled_decay for r in regs):
        decay = factors[0] if len(set(factors)) == 1 else torch.tensor(factors, device=net.device)

    n = len(data.y_train)
    steps_per_epoch = math.ceil(n / s.batch_size)
    total = s.epochs * steps_per_epoch
    if s.max_steps:
        total = min(total, s.max_steps)
    epochs = math.ceil(total / steps_per_epoch)
    gens = [ctx.generator("data") for ctx in ctxs]
    hits = torch.zeros(epochs, k, dtype=torch.long, device=net.device)
    norms = torch.zeros(epochs + 1, len(weights), k, device=net.device)
    norms[0] = member_norms(weights)
    loop = TrainLoop(ctxs, total, ("train_loss",), str(net.device))
    step, stop = 0, False
    with loop:
        for epoch in range(epochs):
            order = epoch_orders(gens, n, net.device)
            for i in range(steps_per_epoch):
                if step >= total:
                    break
                idx = order[:, i * s.batch_size : (i + 1) * s.batch_size]
                loss = member_cross_entropy(net(data.x_train[idx]), data.y_train[idx])
                if penalty is not None:
                    loss = loss + penalty(weights)
                loop.record(step, train_loss=loss)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                if decay is not None:
                    with torch.no_grad():
                        for w in weights:
                            w.mul_(decay if isinstance(decay, float) else member_view(decay, w))
                opt.step()
                step += 1
                stop = loop.due(step - 1) and not any(loop.poll()[0])  # every member diverged
                if stop:
                    break
            with loop.clock.paused():  # per epoch, as the per-step loop did: layer norms, validation
                norms[epoch + 1] = member_norms(weights)
                hits[epoch] = valid_hits(net, data.x_valid, data.y_valid, s.eval_batch)
            if stop:
                break
    values = loop.host_values(step)["train_loss"]
    valid = [[h / len(data.y_valid) for h in row] for row in hits.T.tolist()]
    layer_norms = norms.permute(2, 0, 1).tolist()
    out: list[Any] = []
    for m, ctx in enumerate(ctxs):
        try:
            out.append(_replay(values[m], valid[m], layer_norms[m], total, steps_per_epoch, s, n, ctx))
        except Exception as exc:  # Diverged at the member's first NaN step
            out.append(exc)
    return out


def _imbalance(norms: list[float]) -> float:
    return max(norms) / min(norms) if min(norms) > 0 else float("inf")


def _replay(
    losses: list[float], valid: list[float], norms: list[list[float]], total: int, spe: int, s: Any, n: int, ctx: Any
) -> TrainResult:
    """One member's bookkeeping, as the per-step loop did it, from its recorded values."""
    ctx.log("norm_imbalance", 0, _imbalance(norms[0]))
    step, loss_value = 0, float("nan")
    for epoch in range(len(valid)):
        for i in range(spe):
            if step >= total:
                break
            loss_value = ctx.check_finite(losses[step] if step < len(losses) else math.nan, step=step)
            ctx.samples_seen += min(s.batch_size, n - i * s.batch_size)
            step += 1
            if step % LOG_EVERY == 0:
                ctx.log("train_loss", step, loss_value)
        ctx.log("norm_imbalance", step, _imbalance(norms[epoch + 1]))
        ctx.remember(train_loss=loss_value, valid_accuracy=valid[epoch])
    return TrainResult(step, loss_value)
