"""Training and evaluation loops of the fewshot track: PET pattern-MLM fine-tuning and a [CLS] head.

Both run in ``harness.models.finetune.train_loop`` (AdamW with linear warmup/decay, seeded batch
order and dropout, the checkpoint with the best validation accuracy is the one tested: Su
evaluates every epoch and keeps the best valid); this module holds the PET loss and the predictors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.engine.context import device_of
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


def pet_loss(
    model: Any, src: PetBatchSource, idx: list[int], mask_id: int, vocab_size: int, rate: float, gen: Any
) -> tuple[Any, int]:
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
    dev = device_of(model)  # masks are drawn on the CPU (the same on every device), then moved
    total = mlm_loss(model, inp.to(dev), att.to(dev), labels.to(dev), reduction="sum")
    count = int((labels != IGNORE).sum())
    if src.unlabelled and src.unlabelled_per_step > 0:
        pick = torch.randint(0, len(src.unlabelled), (src.unlabelled_per_step,), generator=gen).tolist()
        uids, uatt, umask = pad_rows([src.unlabelled[i] for i in pick])
        uinp, ulabels = mask_tokens(uids, umask, mask_id, vocab_size, gen, rate=rate)
        total = total + mlm_loss(model, uinp.to(dev), uatt.to(dev), ulabels.to(dev), reduction="sum")
        count += int((ulabels != IGNORE).sum())
    return total / max(1, count), count


def pet_predict(
    model: Any, rows: list[list[int]], positions: list[int], verbalizer: list[int], batch: int = 128
) -> list[int]:
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
            idx = order[i : i + batch]
            ids, att, _ = pad_rows([rows[j] for j in idx])
            sel = torch.zeros_like(ids, dtype=torch.bool)
            sel[torch.arange(len(idx)), torch.tensor([positions[j] for j in idx])] = True
            dev = device_of(model)
            logits = masked_logits(model, ids.to(dev), att.to(dev), sel.to(dev))[:, cand.to(dev)]
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
            idx = order[i : i + batch]
            ids, att, _ = pad_rows([rows[j] for j in idx])
            dev = device_of(clf)
            for j, p in zip(idx, clf(ids.to(dev), att.to(dev)).argmax(1).tolist()):
                out[j] = p
    clf.train(was)
    return out
