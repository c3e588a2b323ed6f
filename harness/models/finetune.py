"""The fine-tuning loop shared by the text tracks (fewshot, tokenization).

One protocol: AdamW (weight decay 0.01) with linear warmup over the first 10% of steps and linear
decay to 0; batches in the order of ``batch_plan(seed "data")`` (identical across methods for one
seed); dropout seeded from axis "init"; gradient norm clipped at 1; evaluation every
``eval_every`` steps and at the end, and the checkpoint with the best validation accuracy is the
one kept (early stopping by selection, so few-label runs do not overfit). With ``patience`` > 0
training also stops after that many evaluations without a new best (the learning-rate schedule
still spans ``steps``, so stopping never changes the steps before it): a generous step budget then
costs only the steps validation still rewards.

The loop never waits for the device inside a segment of ``eval_every`` steps: losses stay on the device
and are read (finiteness, the logged curve) once per segment, so a GPU queues a segment's steps back to
back (issue 28); a non-finite loss still ends the cell as ``diverged`` at its own step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any


def optimizer(params: Any, lr: float, steps: int) -> tuple[Any, Any]:
    """AdamW and its warmup/decay schedule. ``foreach`` is bit-identical to the per-tensor update
    on CPU (checked) and a few percent faster for models with many small tensors."""
    import torch

    from harness.models.pretrain import linear_warmup_decay

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(max(1, steps // 10), steps))
    return opt, sched


def train_loop(
    module: Any,
    n_items: int,
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    step_loss: Callable[[list[int]], Any],
    evaluate: Callable[[], float],
    ctx: Any,
    lengths: list[int] | None = None,
    patience: int = 0,
) -> tuple[float, int]:
    """Fine-tune ``module``: ``step_loss(batch indices) -> loss`` per step; keeps the checkpoint of
    the best ``evaluate()`` (validation accuracy). ``lengths`` (tokens per item) buckets batches
    by length to save padding; without it batches are plain random draws. ``patience`` > 0 stops
    after that many evaluations without improvement. Returns (best validation accuracy, its step);
    ``module`` is left at that checkpoint, in eval mode."""
    import torch

    from harness.models.lm_cost import charge_step
    from harness.models.pretrain import batch_plan

    opt, sched = optimizer(module.parameters(), lr, steps)
    plan: list[list[int]] = []
    epoch = 0
    best, best_step, best_state, stale = -1.0, 0, None, 0
    lengths = lengths if lengths is not None else [0] * n_items
    bs = min(batch_size, n_items)
    step = 0
    with ctx.fork_rng():
        torch.manual_seed(ctx.seed("init"))  # dropout draws (on a GPU, its generator's)
        while step < steps:
            end = min(steps, (step // eval_every + 1) * eval_every)  # the next evaluation
            losses = []  # detached, on the device: read once per segment, never per step
            module.train()
            with ctx.train_timer():
                while step < end:
                    step += 1
                    if not plan:  # a new epoch
                        plan = batch_plan(lengths, bs, ctx.seed("data"), epoch)
                        epoch += 1
                    idx = plan.pop()
                    charge_step()
                    loss = step_loss(idx)
                    losses.append(loss.detach())
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                    opt.step()
                    sched.step()
                    ctx.samples_seen += len(idx)
            values = torch.stack(losses).float().cpu().tolist()
            first = end - len(values) + 1
            for k, value in enumerate(values):  # a NaN anywhere in the segment ends the cell at its step
                ctx.check_finite(value, step=first + k)
                if (first + k) % 10 == 0 or first + k == steps:
                    ctx.log("train_loss", first + k, value)
            acc = evaluate()
            ctx.log("valid_accuracy", step, acc)
            ctx.remember(valid_accuracy=acc)
            if acc > best:
                best, best_step, best_state, stale = acc, step, copy.deepcopy(module.state_dict()), 0
            else:
                stale += 1
                if patience and stale >= patience:
                    break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return best, best_step
