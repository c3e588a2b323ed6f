"""Batches for masked-LM training and evaluation: [CLS]/[SEP] padding and a seeded batch order.

Shared by MLM pretraining (``harness.models.mlm_train``) and the fine-tuning loops of the text
tracks, so padding and batch order are written once.
"""

from __future__ import annotations

from typing import Any


def pad_batch(seqs: list[list[int]], max_len: int, cls_id: int = 2, sep_id: int = 3, pad_id: int = 0):
    """[CLS] ids [SEP], truncated to ``max_len`` tokens, right-padded to the longest row.

    Returns (input_ids, attention_mask, maskable) where ``maskable`` is False at specials and pads.
    An empty sequence becomes ``[CLS] [SEP]``.
    """

    body = max(0, max_len - 2)
    return pad_rows([[cls_id] + list(s[:body]) + [sep_id] for s in seqs], pad_id)


def pad_rows(rows: list[list[int]], pad_id: int = 0):
    """Right-pad full rows (already with [CLS]/[SEP]); returns (ids, attention mask, maskable) where
    maskable is False at [CLS], [SEP] and padding."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    maskable = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        maskable[i, 1 : len(r) - 1] = True
    return ids, (ids != pad_id).long(), maskable


def batch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch of batches: shuffled, length-bucketed inside groups of 20 batches (less padding)."""
    import random

    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * 20
    batches = []
    for g in range(0, len(order), group):
        chunk = sorted(order[g : g + group], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def step_generator(seed: int, step: int) -> Any:
    """The torch.Generator of one training step's masks: a function of (seed, step) only, so a
    resumed build draws exactly the masks an uninterrupted one would."""
    import torch

    g = torch.Generator()
    g.manual_seed((seed * 7_919 + step * 104_729 + 17) & 0x7FFFFFFF)
    return g
