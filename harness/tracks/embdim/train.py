"""Training and scoring of softmax skip-gram embeddings on co-occurrence counts (embdim track).

The model is Su's: q(j | i) = softmax_j <u_i, v_j> with no biases. Rather than sampling pairs, each
step takes a batch of centre words i and uses their whole count rows as soft targets, so one epoch
is exactly the corpus objective  -sum_ij C_ij log q(j|i) / sum_ij C_ij  (full softmax over N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EmbConfig:
    """What a method chooses: the dimension n and whether centre and context vectors are tied."""

    dim: int
    tied: bool = False


class SkipGram:
    """Centre vectors U (N, n) and context vectors V (N, n); V is U when tied. Drawn on the CPU and
    then moved to ``device``, so every device starts from the same vectors."""

    def __init__(self, n_words: int, cfg: EmbConfig, seed: int, init_std: float = 0.1, device: str = "cpu") -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        self.u = (torch.randn(n_words, cfg.dim, generator=g) * init_std).to(device).requires_grad_()
        v = self.u if cfg.tied else (torch.randn(n_words, cfg.dim, generator=g) * init_std).to(device)
        self.v = v if cfg.tied else v.requires_grad_()
        self.tied = cfg.tied
        self.device = device

    def parameters(self) -> list[Any]:
        return [self.u] if self.tied else [self.u, self.v]

    def log_q(self, rows: Any) -> Any:
        import torch

        return torch.log_softmax(self.u[rows] @ self.v.T, dim=1)


def _dense_rows(mat: Any, rows: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.asarray(mat[rows].toarray(), np.float32))


def cross_entropy(model: SkipGram, counts: Any, batch: int = 512) -> float:
    """-sum_ij C_ij log q(j|i) / sum_ij C_ij over a sparse count matrix (nats per pair)."""
    import torch

    nz = np.flatnonzero(np.asarray(counts.sum(axis=1)).ravel())
    total, mass = 0.0, float(counts.sum())
    if mass == 0:
        return math.nan
    with torch.no_grad():
        for k in range(0, len(nz), batch):
            rows = nz[k : k + batch]
            target = _dense_rows(counts, rows).to(model.device)
            total -= float((target * model.log_q(torch.from_numpy(rows))).sum())
    return total / mass


def unigram_cross_entropy(train: Any, heldout: Any) -> float:
    """Held-out loss of the context-unigram model q(j|i) = p(j): the no-embedding reference."""
    p = np.asarray(train.sum(axis=0)).ravel().astype(np.float64) + 0.5
    p /= p.sum()
    c = np.asarray(heldout.sum(axis=0)).ravel()
    return float(-(c * np.log(p)).sum() / c.sum())


# A count matrix at most this large (bytes, float32) lives densely on the device: a step's target rows
# are then one gather there, instead of rows densified on the host and copied every step.
DENSE_BYTES = 64 * 1024**2


def train_steps(model: SkipGram, counts: Any, steps: int, batch: int, lr: float, ctx: Any, curve_points: int) -> float:
    """Adam with linear decay to 0 over ``steps`` steps; each step takes ``batch`` random centre rows
    (all rows when N <= batch) and an unbiased estimate of the corpus objective. Returns the mean
    batch loss over the last tenth of the steps.

    No host sync per step: every step's rows are drawn first (the same generator, the same order),
    uploaded once; losses go to a device buffer (``TrainLoop``) and are replayed through ``ctx`` after
    the loop (curve, ``remember``, ``check_finite`` at the first NaN step)."""
    import torch

    from harness.engine.context import TrainLoop

    nz = np.flatnonzero(np.asarray(counts.sum(axis=1)).ravel())
    mass = float(counts.sum())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps)
    gen = ctx.generator("data")
    picks = [
        nz if len(nz) <= batch else np.sort(nz[torch.randperm(len(nz), generator=gen)[:batch].numpy()])
        for _ in range(steps)
    ]
    rows_on_device = torch.from_numpy(np.stack(picks)).to(model.device)
    n_words = counts.shape[0]
    dense = None
    if n_words * n_words * 4 <= DENSE_BYTES:
        dense = torch.from_numpy(np.asarray(counts.toarray(), np.float32)).to(model.device)
    loop = TrainLoop([ctx], steps, ("train_loss",), str(model.device))
    done = 0
    with loop:
        for step in range(steps):
            rows = rows_on_device[step]
            target = dense[rows] if dense is not None else _dense_rows(counts, picks[step]).to(model.device)
            loss = -(target * model.log_q(rows)).sum() / mass * (len(nz) / len(picks[step]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loop.record(step, train_loss=loss)
            done = step + 1
            if loop.due(step) and not any(loop.poll()[0]):
                break
    values = loop.host_values(done)["train_loss"][0]
    log_every = max(1, steps // max(1, curve_points))
    tail: list[float] = []
    for step in range(steps):
        value = ctx.check_finite(values[step] if step < len(values) else math.nan, "train loss", step)
        ctx.samples_seen += len(picks[step])
        if step >= steps - max(1, steps // 10):
            tail.append(value)
        if step % log_every == 0 or step == steps - 1:
            ctx.log("train_loss", step, value)
            ctx.remember(train_loss=value, steps=step + 1)
    return sum(tail) / len(tail)


def probe_accuracy(model: SkipGram, data: Any, seed: int, ctx: Any = None) -> float:
    """Sentiment probe: logistic regression on the mean centre vector of a review's in-vocabulary words.

    With ``ctx``, its predictions on the probe's fixed test reviews are recorded as split ``probe_test``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    u = model.u.detach().cpu().numpy()

    def feats(docs: list[np.ndarray]) -> np.ndarray:
        return np.stack([u[d].mean(0) if len(d) else np.zeros(u.shape[1], np.float32) for d in docs])

    (xtr, ytr), (xte, yte) = data.probe_train, data.probe_test
    scaler = StandardScaler().fit(feats(xtr))
    clf = LogisticRegression(max_iter=1000, random_state=seed).fit(scaler.transform(feats(xtr)), ytr)
    pred = clf.predict(scaler.transform(feats(xte)))
    if ctx is not None:
        ctx.record_predictions(pred, yte, split="probe_test")
    return float(np.mean(pred == np.asarray(yte)))  # what clf.score computes (accuracy_score)
