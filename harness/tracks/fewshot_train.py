"""Training and evaluation loops of the fewshot track: PET pattern-MLM fine-tuning and a [CLS] head.

Both loops share the protocol: AdamW with linear warmup/decay, batches in the order of
``batch_plan(seed "data")`` (identical across methods for one seed), dropout seeded from axis
"init", evaluation on the validation texts every ``eval_every`` steps, and the checkpoint with the
best validation accuracy is the one tested (Su evaluates every epoch and keeps the best valid).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.models.tinybert import IGNORE


@dataclass
class PetBatchSource:
    """Labelled pattern rows (mask position and verbalizer target per row) and, for the
    semi-supervised arm, unlabelled rows (``[CLS] text [SEP]``, no pattern)."""

    rows: list[list[int]]
    positions: list[int]
    targets: list[int]
    unlabelled: list[list[int]] | None = None
    unlabelled_per_step: int = 0


def _optimizer(params: Any, lr: float, steps: int) -> tuple[Any, Any]:
    import torch

    from harness.models.pretrain import linear_warmup_decay

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(max(1, steps // 10), steps))
    return opt, sched


def pet_loss(model: Any, src: PetBatchSource, idx: list[int], mask_id: int, vocab_size: int, rate: float,
             gen: Any) -> tuple[Any, int]:
    """Su's PET objective on one batch: MLM cross-entropy pooled over (i) the pattern mask (target =
    the label's verbalizer token) and (ii) ``rate`` BERT-style random masking of the other tokens;
    plus, for unlabelled rows, random masking alone. Returns (mean loss, masked positions)."""
    import torch

    from harness.models.pretrain import pad_rows
    from harness.models.tinybert import mask_tokens, mlm_loss

    ids, att, maskable = pad_rows([src.rows[i] for i in idx])
    rows = torch.arange(len(idx))
    pos = torch.tensor([src.positions[i] for i in idx], dtype=torch.long)
    maskable[rows, pos] = False
    if rate > 0:
        inp, labels = mask_tokens(ids, maskable, mask_id, vocab_size, gen, rate=rate)
    else:
        inp, labels = ids.clone(), torch.full_like(ids, IGNORE)
    inp[rows, pos] = mask_id
    labels[rows, pos] = torch.tensor([src.targets[i] for i in idx], dtype=torch.long)
    total = mlm_loss(model, inp, att, labels, reduction="sum")
    count = int((labels != IGNORE).sum())
    if src.unlabelled and src.unlabelled_per_step > 0:
        pick = torch.randint(0, len(src.unlabelled), (src.unlabelled_per_step,), generator=gen).tolist()
        uids, uatt, umask = pad_rows([src.unlabelled[i] for i in pick])
        uinp, ulabels = mask_tokens(uids, umask, mask_id, vocab_size, gen, rate=rate)
        total = total + mlm_loss(model, uinp, uatt, ulabels, reduction="sum")
        count += int((ulabels != IGNORE).sum())
    return total / max(1, count), count


def train_loop(module: Any, n_items: int, steps: int, batch_size: int, lr: float, eval_every: int,
               step_loss: Callable[[list[int]], Any], evaluate: Callable[[], float], ctx: Any) -> tuple[float, int]:
    """Generic fine-tuning: ``step_loss(batch indices) -> loss`` per step; keeps the checkpoint of
    the best ``evaluate()`` (validation accuracy). Returns (best validation accuracy, best step)."""
    import torch

    from harness.models.pretrain import batch_plan

    opt, sched = _optimizer(module.parameters(), lr, steps)
    plan: list[list[int]] = []
    epoch = 0
    best, best_step, best_state = -1.0, 0, None
    lengths = [0] * n_items  # no length bucketing: few-shot sets are small, keep batches random
    bs = min(batch_size, n_items)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed("init"))  # dropout draws
        for step in range(1, steps + 1):
            if not plan:
                plan = batch_plan(lengths, bs, ctx.seed("data"), epoch)
                epoch += 1
            idx = plan.pop()
            module.train()
            with ctx.train_timer():
                loss = step_loss(idx)
                value = ctx.check_finite(loss.item(), step=step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                opt.step()
                sched.step()
            ctx.samples_seen += len(idx)
            if step % 10 == 0 or step == steps:
                ctx.log("train_loss", step, value)
            if step % eval_every == 0 or step == steps:
                acc = evaluate()
                ctx.log("valid_accuracy", step, acc)
                ctx.remember(valid_accuracy=acc)
                if acc > best:
                    best, best_step, best_state = acc, step, copy.deepcopy(module.state_dict())
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return best, best_step


def pet_predict(model: Any, rows: list[list[int]], positions: list[int], verbalizer: list[int],
                batch: int = 128) -> list[int]:
    """Labels by the argmax of the MLM logits of the verbalizer tokens at the mask (Su's eval)."""
    import torch

    from harness.models.pretrain import pad_rows
    from harness.models.tinybert import masked_logits

    was = model.training
    model.eval()
    out = [0] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # less padding
    cand = torch.tensor(verbalizer, dtype=torch.long)
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            ids, att, _ = pad_rows([rows[j] for j in idx])
            sel = torch.zeros_like(ids, dtype=torch.bool)
            sel[torch.arange(len(idx)), torch.tensor([positions[j] for j in idx])] = True
            logits = masked_logits(model, ids, att, sel)[:, cand]
            for j, p in zip(idx, logits.argmax(1).tolist()):
                out[j] = p
    model.train(was)
    return out


def head_predict(clf: Any, rows: list[list[int]], batch: int = 128) -> list[int]:
    """Labels from a [CLS]-head classifier on full rows."""
    import torch

    from harness.models.pretrain import pad_rows

    was = clf.training
    clf.eval()
    out = [0] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            ids, att, _ = pad_rows([rows[j] for j in idx])
            for j, p in zip(idx, clf(ids, att).argmax(1).tolist()):
                out[j] = p
    clf.train(was)
    return out


def accuracy(pred: list[int], labels: list[int]) -> float:
    if not labels:
        return float("nan")
    return sum(int(p == y) for p, y in zip(pred, labels)) / len(labels)
