"""The imbalance track at paper scale: Menon et al.'s ResNet-32 protocol on CIFAR-10/100-LT.

Source: the official logit-adjustment code (google-research ``logit_adjustment``: ``models.py``,
``main.py``, ``utils.py``), read for its settings, not copied. What it trains, and what selects it
here (block settings; ``harness/suites/paper.toml`` sets all of them):

* ``model = "resnet32"``: the network (``harness.models.resnet.resnet32``);
* ``optimizer = "sgd-nesterov"``, ``lr = 0.1``, ``momentum = 0.9``, ``batch_size = 128``;
* ``weight_decay = 2e-4`` on the convolution kernels and the dense kernel and bias only (Keras's L2
  of 1e-4 there; BatchNorm's scale and shift are not decayed);
* ``schedule = "warmup-step"``: linear warmup from 0 to the lr by epoch 20, then x0.1, x0.01 and
  x0.001 from epochs 604, 926 and 1128 of 1,241 (CIFAR-10-LT; CIFAR-100-LT: 22, 691, 1059, 1290 of
  1,419), evaluated per step at the fractional epoch as the official schedule is; with another
  ``epochs`` the same epochs are scaled to it;
* ``augment = "crop-flip"``: zero-pad 4, random 32x32 crop, random horizontal flip (on the device,
  ``harness.data.augment``);
* an epoch is floor(n / batch) steps (the official input pipeline drops the last partial batch).

Differences, stated: the official inputs are x / 255 - 0.5, ours are standardised per channel (the
first convolution is followed by BatchNorm, so this is a per-channel rescaling of what it sees, and
the zero padding of the crop is the mean colour instead of mid-grey); the official shuffle is a
10,000-row buffer, ours a full permutation per epoch; PyTorch's Nesterov update equals Keras's at a
constant lr and differs in how a step change of the lr enters the momentum buffer.

Metrics are the track's (``imbalance_metrics`` of the protocol, passed in by its hook so this module
does not import the protocol back).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import HarnessError

PAPER_MODELS = ("resnet32",)
AUGMENT = ("none", "crop-flip")  # the augment setting: none, or zero-pad 4 + random crop + flip
PAPER_ONLY = {"optimizer": ("sgd-nesterov",), "schedule": ("warmup-step",)}
# (official epochs, warmup end, the epochs the lr drops x0.1 each) of Menon et al.'s utils.py.
OFFICIAL_SCHEDULE = {"cifar10-lt": (1241, 20, (604, 926, 1128)), "cifar100-lt": (1419, 22, (691, 1059, 1290))}


def check_paper_settings(s: Any) -> None:
    """The settings only the ResNet-32 trainer implements: refused, in one line, for the small models."""
    if s.model in PAPER_MODELS:
        return
    for name, values in PAPER_ONLY.items():
        if getattr(s, name) in values:
            raise HarnessError(f'imbalance: {name} = "{getattr(s, name)}" is implemented for model = "resnet32" only')
    if s.augment != "none":
        raise HarnessError(f'imbalance: augment = "{s.augment}" is implemented for model = "resnet32" only')


def warmup_step_factor(dataset: str, epochs: float) -> Callable[[float], float]:
    """lr multiplier at a fractional epoch: Menon et al.'s warmup and steps, scaled to ``epochs``."""
    official, warm, drops = OFFICIAL_SCHEDULE.get(dataset, OFFICIAL_SCHEDULE["cifar10-lt"])
    scale = epochs / official
    warm_end, starts = warm * scale, [d * scale for d in drops]

    def factor(epoch: float) -> float:
        out = epoch / warm_end if epoch < warm_end else 1.0
        for i, start in enumerate(starts):
            if epoch >= start:
                out = 0.1 ** (i + 1)
        return out

    return factor


def _optimizer(model: Any, s: Any) -> Any:
    import torch

    from harness.models.resnet import decayed_parameters

    decay, keep = decayed_parameters(model)
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    if s.optimizer == "adam":
        return torch.optim.Adam(groups, lr=s.lr)
    return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.optimizer == "sgd-nesterov")


def _lr_factor(s: Any, dataset: str, steps_per_epoch: int) -> Callable[[int], float]:
    total = s.epochs * steps_per_epoch
    if s.schedule == "warmup-step":
        by_epoch = warmup_step_factor(dataset, s.epochs)
        return lambda step: by_epoch(step / steps_per_epoch)
    if s.schedule == "cosine":
        return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    return lambda step: 1.0


def train_resnet(cell: Any, ctx: Any, data: Any, loss_fn: Any, prior: Any, sampler: str | None, s: Any) -> tuple:
    """Train the paper network on ``data`` (already on the device); returns (model, final epoch loss)."""
    import torch

    from harness.data.augment import crop_flip, draw_epoch
    from harness.engine.context import seeded_init
    from harness.models.resnet import make_paper_model, to_memory_format

    with seeded_init(ctx.seed("init")):
        model = make_paper_model(s.model, data.num_classes)
    model = to_memory_format(model.to(ctx.device), ctx.precision)
    opt = _optimizer(model, s)
    n = len(data.y_train)
    bs = n if s.batch_size <= 0 else min(s.batch_size, n)
    steps_per_epoch = max(1, n // bs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(s, cell.dataset, steps_per_epoch))
    counts = torch.bincount(data.y_train.cpu(), minlength=data.num_classes).float()
    row_weight = (1.0 / counts)[data.y_train.cpu()] if sampler == "class-balanced" else None
    gen = ctx.generator("data")
    aug_gen = ctx.generator("augment")
    model.train()
    epoch_loss = float("nan")
    for epoch in range(s.epochs):
        if row_weight is not None:
            order = torch.multinomial(row_weight, n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        order = order.to(ctx.device)
        draws = draw_epoch(n, aug_gen, ctx.device) if s.augment == "crop-flip" else None
        total = torch.zeros((), device=ctx.device)
        with ctx.train_timer():  # one sync per epoch, not per step
            for i in range(steps_per_epoch):
                idx = order[i * bs : (i + 1) * bs]
                xb = data.x_train[idx] if draws is None else crop_flip(data.x_train[idx], idx, draws)
                loss = loss_fn(model(to_memory_format(xb, ctx.precision)), data.y_train[idx], prior)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.detach().float() * len(idx)
        ctx.samples_seen += steps_per_epoch * bs
        epoch_loss = ctx.check_finite((total / (steps_per_epoch * bs)).item(), step=(epoch + 1) * steps_per_epoch)
        ctx.log("train_loss", epoch + 1, epoch_loss)
        ctx.remember(train_loss=epoch_loss)
    return model, epoch_loss


def run_paper_shared(
    track: Any, cells: list[Any], ctxs: list[Any], prepared: list[tuple], metrics: Callable, train_prior: Callable
) -> list[dict[str, float] | BaseException]:
    """Cells that share one training (one seed; ``ce`` and every ``posthoc-la[tau]``, which differ only
    at prediction: ``Imbalance.shared_training``), each with its ``(loss, sampler, prediction rule)``
    (``Imbalance._prepare``): the paper network is trained once, by the first cell's context, and each
    cell's prediction rule is applied to it. A ResNet-32 cell is hours on a
    GPU, so training it once per tau would multiply the block's cost by the number of taus."""
    import torch

    from harness.models.resnet import chunked_logits
    from harness.models.stacked import each_member

    cell, ctx = cells[0], ctxs[0]
    s = track.settings(cell)
    data = track.load_data(cell).to(ctx.device)
    if len(data.y_train) == 0 or len(data.y_test) == 0:
        raise HarnessError(f"imbalance needs non-empty train and test splits ({cell.dataset_selector})")
    if data.x_train.dim() != 4:
        raise HarnessError(
            f"model = {s.model!r} needs image inputs (N, C, H, W); {cell.dataset} has {data.input_shape}"
        )
    loss, sampler, _ = prepared[0]
    k = data.num_classes
    counts = np.bincount(data.y_train.cpu().numpy(), minlength=k)
    prior = torch.tensor(train_prior(data.y_train.cpu().numpy(), k), dtype=torch.float32, device=ctx.device)
    model, train_loss = train_resnet(cell, ctx, data, loss, prior, sampler, s)
    logits = {}
    for split in ("valid", "test"):  # computed once for every member's rule
        if len(getattr(data, f"y_{split}")):
            logits[split] = chunked_logits(model, getattr(data, f"x_{split}"), s.eval_batch, ctx.precision).float()

    def finish(i: int) -> dict[str, float]:
        adjust = prepared[i][2]
        out = {"train_loss": float(train_loss)}
        for split, scores in logits.items():  # valid: where a tau is chosen; the test split never chooses
            y = getattr(data, f"y_{split}")
            rule = scores if adjust is None else adjust(scores, prior, **cells[i].method_params)
            pred = rule.argmax(1).cpu().numpy()
            measured = metrics(pred, y.cpu().numpy(), counts)
            if split == "test":
                ctxs[i].record_predictions(pred, y)
                out.update(measured)
            else:
                out["valid_balanced_accuracy"] = measured["balanced_accuracy"]
        return out

    return each_member(range(len(cells)), finish)


def paper_rows(cell: Any) -> int:
    """Training rows of a CIFAR-LT cell (the EXP profile at its rho: 12,406 / 10,847 at rho = 100),
    counted without loading the data (longtail.py draws exactly these)."""
    rho = float(cell.dataset_params.get("rho", 100.0))
    k, n_max = (10, 5000) if cell.dataset == "cifar10-lt" else (100, 500)
    return sum(int(math.floor(n_max * rho ** (-c / (k - 1)) + 1e-9)) for c in range(k))


def memory(cell: Any) -> tuple[int, int]:
    """(host, GPU) bytes of a ResNet-32 cell: the CIFAR-LT split plus the test set on the device, a
    batch's activations, an evaluation chunk (harness.models.timings.memory_bytes)."""
    from harness.models.timings import memory_bytes

    s = cell.settings
    return memory_bytes(s["model"], paper_rows(cell) + 10000, s["batch_size"], 0, s["eval_batch"])


def device_seconds(cell: Any, device: str) -> float | None:
    """Seconds of one ResNet-32 cell on ``device`` (a GPU's name or a ``timings.cpu_name``) from the
    measured timings: the epochs' training images plus one pass over the 10,000 validation and test
    images; None where not measured."""
    from harness.models.timings import seconds

    s = cell.settings
    if s.get("model") not in PAPER_MODELS or not cell.dataset.startswith("cifar"):
        return None
    n = paper_rows(cell)
    bs = n if s["batch_size"] <= 0 else min(s["batch_size"], n)
    return seconds(s["model"], device, cell.precision, s["epochs"] * max(1, n // bs) * bs, 10000.0)
