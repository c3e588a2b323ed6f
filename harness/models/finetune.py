"""The fine-tuning loop shared by the text tracks (fewshot, tokenization).

One protocol: AdamW (weight decay 0.01) with linear warmup over the first 10% of steps and linear
decay to 0; batches in the order of ``batch_plan(seed "data")`` (identical across methods for one
seed); dropout seeded from axis "init"; gradient norm clipped at 1; evaluation every
``eval_every`` steps and at the end, and the checkpoint with the best validation accuracy is the
one kept (early stopping by selection, so few-label runs do not overfit). With ``patience`` > 0
training also stops after that many evaluations without a new best (the learning-rate schedule
still spans ``steps``, so stopping never changes the steps before it): a generous step budget then
costs only the steps validation still rewards.

No host sync per step: losses go to a device buffer (``harness.engine.context.TrainLoop``) whose
finite watch is read at each evaluation (which reads the device anyway) and every ``CHECK_EVERY``
steps; the curve, ``remember`` and ``check_finite`` (``Diverged`` at the first NaN step) are replayed
from the buffer after the loop. A NaN never becomes the kept checkpoint.
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

    from harness.engine.context import TrainLoop
    from harness.models.lm_cost import charge_step
    from harness.models.pretrain import batch_plan

    opt, sched = optimizer(module.parameters(), lr, steps)
    plan: list[list[int]] = []
    epoch = 0
    best, best_step, best_state, stale = -1.0, 0, None, 0
    lengths = lengths if lengths is not None else [0] * n_items
    bs = min(batch_size, n_items)
    rows: list[int] = []
    evals: dict[int, float] = {}
    loop = TrainLoop([ctx], steps, ("train_loss",), str(next(module.parameters()).device))
    with ctx.fork_rng(), loop:
        torch.manual_seed(ctx.seed("init"))  # dropout draws (on a GPU, its generator's)
        for step in range(1, steps + 1):
            if not plan:  # a new epoch
                plan = batch_plan(lengths, bs, ctx.seed("data"), epoch)
                epoch += 1
            idx = plan.pop()
            module.train()
            charge_step()  # the cost model's meter (a no-op outside its fake-clock tests)
            loss = step_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            sched.step()
            loop.record(step - 1, train_loss=loss)
            rows.append(len(idx))
            finite = not loop.due(step - 1) or all(loop.poll()[0])
            if finite and (step % eval_every == 0 or step == steps):
                with loop.clock.paused():
                    acc = evals[step] = evaluate()
                finite = all(loop.poll()[0])  # the evaluation read the device anyway
                if acc > best and finite:
                    best, best_step, best_state, stale = acc, step, copy.deepcopy(module.state_dict()), 0
                else:
                    stale += 1
                    if patience and stale >= patience:
                        break
            if not finite:
                break
    _replay(loop.host_values(len(rows))["train_loss"][0], rows, evals, steps, ctx)
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return best, best_step


def _replay(values: list[float], rows: list[int], evals: dict[int, float], steps: int, ctx: Any) -> None:
    """The per-step bookkeeping, as the per-step loop did it, from the recorded losses: curves,
    ``remember``, and ``Diverged`` at the first NaN step (``check_finite``)."""
    for step in range(1, len(rows) + 1):
        value = ctx.check_finite(values[step - 1], step=step)
        ctx.samples_seen += rows[step - 1]
        if step % 10 == 0 or step == steps:
            ctx.log("train_loss", step, value)
        if step in evals:
            ctx.log("valid_accuracy", step, evals[step])
            ctx.remember(valid_accuracy=evals[step])
