"""Training the top layers of a causal LM over cached lower-layer states: PET's loss and the linear head.

Why over cached states: a training step through all 24 layers of Qwen-0.5B costs ~20-40 s on the
2-core CPU machine; the states entering layer L are the same for a given text in every step, seed and
cell, so they are computed once (``harness.models.lm_store``) and each step runs only layers L..N-1.
Each arm's layers (``arm_training``; ``harness.models.lm_lora``: ``top<N>`` or ``lora-top<N>``) are what it
trains; the head adds its new linear layer, PET reads the frozen output layer's label-word rows.

PET's loss follows Su: the negative log-likelihood (full vocabulary) of the correct label word in the
pattern, pooled with a next-token loss at a random ``mlm_rate`` share of the other positions (his 15%
random masking) and, for ``pet-semi``, at the same share of positions of unlabelled train texts (no
pattern), averaged over all scored positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from harness.errors import HarnessError
from harness.models.lm_lora import make_trainable, parse_train_layers
from harness.models.lm_scoring import Plan, head_logits
from harness.models.lm_states import TopLayers, label_picks


@dataclass(frozen=True)
class ArmTraining:
    """What one arm of a causal-LM block trains, and how long: its layers (``top<N>``/``lora-top<N>``),
    learning rate, step budget and evaluation interval."""

    layers: str
    lr: float
    steps: int
    eval_every: int


def arm_training(s: Any, recipe: Any) -> ArmTraining:
    """The arm's own settings. Why per arm: "PET beats the head" and "all labels beat PET" compare
    methods, not one recipe that suits one of them; each arm's setting is chosen on validation
    (``benchmarks/pilot_lm_training.py``). Pattern arms (pet, pet-semi, zero-shot: the states they
    share) take ``train_layers``/``lr``; the head ``head_layers``/``head_lr`` when set; the all-labels
    ceiling ``full_layers``/``full_lr`` (else the head's), ``full_steps`` and ``full_eval_every``."""
    head = recipe.kind == "head"
    layers = (s.head_layers or s.train_layers) if head else s.train_layers
    lr = (s.head_lr or s.lr) if head else s.lr
    if recipe.all_labels:
        return ArmTraining(s.full_layers or layers, s.full_lr or lr, s.full_steps, s.full_eval_every or s.eval_every)
    return ArmTraining(layers, lr, s.steps, s.eval_every)


def sequences_per_text(plan: Plan) -> list[int]:
    """How many state sequences each text of ``plan`` has (1 when its options differ only in the last token)."""
    return [1 if all(len(s) == d + 1 for s in opts) else len(opts) for opts, d in zip(plan.options, plan.split)]


class PlanStates:
    """A plan and the cached states of its ``state_sequences`` (or, with ``one_per_text``, of one sequence
    per text: the head's input), addressable by text index."""

    def __init__(
        self, plan: Plan, states: Sequence[torch.Tensor], sequences: Sequence[Sequence[int]], one_per_text=False
    ):
        self.plan, self.states, self.sequences = plan, list(states), [list(s) for s in sequences]
        counts = [1] * len(plan.options) if one_per_text else sequences_per_text(plan)
        self.owned = [list(range(sum(counts[:i]), sum(counts[: i + 1]))) for i in range(len(counts))]

    def batch(self, idx: Sequence[int]) -> tuple[Plan, list[torch.Tensor], list[list[int]]]:
        sub = Plan(self.plan.prefix, [self.plan.options[i] for i in idx], [self.plan.split[i] for i in idx])
        rows = [j for i in idx for j in self.owned[i]]
        return sub, [self.states[j] for j in rows], [self.sequences[j] for j in rows]

    def lengths(self) -> list[int]:
        return [max(len(self.sequences[j]) for j in own) for own in self.owned]


def lm_positions(sequences: Sequence[Sequence[int]], rate: float, gen: torch.Generator) -> tuple[list, list, list]:
    """Random next-token positions (each with probability ``rate``, at least one per sequence of 2+ tokens):
    (row, position, target token) lists; the position's state predicts the next token."""
    rows, cols, targets = [], [], []
    for r, seq in enumerate(sequences):
        if len(seq) < 2:
            continue
        picked = (torch.rand(len(seq) - 1, generator=gen) < rate).nonzero()[:, 0].tolist()
        if not picked:
            picked = [int(torch.randint(0, len(seq) - 1, (1,), generator=gen))]
        for t in picked:
            rows.append(r)
            cols.append(t)
            targets.append(seq[t + 1])
    return rows, cols, targets


def lm_nll_sum(top: TopLayers, final: torch.Tensor, targets: list) -> torch.Tensor:
    """Summed next-token negative log-likelihood of ``targets`` from the final states [n, H] before them."""
    if not targets:
        return final.sum() * 0.0
    logits = head_logits(top.lm, final).float()
    return F.cross_entropy(logits, torch.tensor(targets, device=logits.device), reduction="sum")


def pet_step_loss(
    top: TopLayers,
    labelled: PlanStates,
    labels: Sequence[int],
    idx: Sequence[int],
    rate: float,
    gen: torch.Generator,
    unlabelled: Sequence[tuple[list[int], torch.Tensor]] = (),
) -> torch.Tensor:
    """Su's pooled PET loss on one batch: label-word NLL + next-token NLL at random positions (labelled
    patterned texts and, if given, the unlabelled ``(sequence, state)`` pairs), over all scored positions.
    One pass of the top layers per group of texts, evaluated only at the positions the loss reads."""
    sub, states, seqs = labelled.batch(idx)
    picks = label_picks(sub)
    lm_rows, lm_cols, lm_targets = lm_positions(seqs, rate, gen) if rate > 0 else ([], [], [])
    final = top.final_at(states, picks.rows + lm_rows, picks.cols + lm_cols)
    n = len(picks.rows)
    scores = top.scores_at(sub, final[:n], picks)
    y = torch.tensor([labels[i] for i in idx])
    total = -scores.gather(1, y.to(scores.device)[:, None]).sum()
    count = sum(len(sub.options[k][int(y[k])]) - sub.split[k] for k in range(len(idx)))
    if rate > 0:
        total = total + lm_nll_sum(top, final[n:], lm_targets)
        count += len(lm_rows)
    if unlabelled:
        u_rows, u_cols, u_targets = lm_positions([q for q, _ in unlabelled], max(rate, 1e-9), gen)
        u_final = top.final_at([s for _, s in unlabelled], u_rows, u_cols)
        total = total + lm_nll_sum(top, u_final, u_targets)
        count += len(u_rows)
    return total / max(1, count)


class HeadOnTop(nn.Module):
    """The top layers, then a new linear layer on the last token's final state (the text's summary)."""

    def __init__(self, top: TopLayers, classes: int, seed: int):
        super().__init__()
        self.top = top
        hidden = top.lm.config.hidden_size
        g = torch.Generator()
        g.manual_seed(seed)
        self.head = nn.Linear(hidden, classes)
        with torch.no_grad():  # nn.Linear's default init, drawn from the cell's own generator
            bound = 1.0 / hidden**0.5
            self.head.weight.uniform_(-bound, bound, generator=g)
            self.head.bias.uniform_(-bound, bound, generator=g)

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        last = [s.shape[0] - 1 for s in states]
        return self.head(self.top.final_at(states, range(len(states)), last))


def head_step_loss(module: HeadOnTop, labelled: PlanStates, labels: Sequence[int], idx: Sequence[int]) -> torch.Tensor:
    _, states, _ = labelled.batch(idx)
    logits = module(states)
    return F.cross_entropy(logits, torch.tensor([labels[i] for i in idx], device=logits.device))


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def pet_scores(top: TopLayers, data: PlanStates, batch_size: int = 16) -> torch.Tensor:
    """[n_texts, n_labels] option scores of every text of ``data`` (inference, length-sorted batches): ranked
    and calibrated, never summed as likelihoods, so a label-last plan's are renormalised over its labels
    (``TopLayers.scores_at``)."""
    out = torch.zeros(len(data.owned), len(data.plan.options[0]) if data.plan.options else 0)
    was = top.training
    top.eval()
    with torch.inference_mode():
        for idx in _batches(data.lengths(), batch_size):
            sub, states, _ = data.batch(idx)
            out[idx] = top.option_scores(sub, states, among_labels=True).cpu()
    top.train(was)
    return out


def head_scores(module: HeadOnTop, data: PlanStates, batch_size: int = 16) -> torch.Tensor:
    """[n_texts, n_classes] head logits of every text of ``data``."""
    out = torch.zeros(len(data.owned), module.head.out_features)
    was = module.training
    module.eval()
    with torch.inference_mode():
        for idx in _batches(data.lengths(), batch_size):
            out[idx] = module(data.batch(idx)[1]).float().cpu()
    module.train(was)
    return out


def head_sequences(plan: Plan) -> list[list[int]]:
    """Each text's tokens before its label word (the part all its options share): the head's input.
    For a label-last pattern these are exactly PET's state sequences, so both read the same cached states."""
    if any(d < 2 for d in plan.split):
        raise HarnessError(
            "head-finetune reads the text before the label word; this pattern puts the label word first "
            "(use a pattern whose label word follows the text, e.g. 'review')"
        )
    return [opts[0][:d] for opts, d in zip(plan.options, plan.split)]


__all__ = ["ArmTraining", "arm_training", "make_trainable", "parse_train_layers"]
