"""Scores for autoencoder code spaces: closeness to N(0, I), prior-sample quality, interpolation.

* Aggregate codes z = mu(x) + sigma(x) eps over the test set (mu(x) for the AE) against N(0, I):
  norm of the mean, Frobenius distance of the covariance to I, and an unbiased RBF-kernel MMD^2
  (a mixture of five bandwidths scaled by the latent size, so one number works for d = 2 and 8).
* Prior samples: decode z ~ N(0, I) and score them with a fixed MLP digit classifier trained by the
  harness on the same training split (cached per dataset): mean max-softmax confidence, entropy of
  the predicted-class histogram (diversity), and RMS distance to the nearest training image.
* Interpolation: decode straight lines between the codes of test pairs; path length in pixel
  space over the endpoint distance (1 = a straight line in pixel space, larger = detours), and the
  classifier's confidence on the interior points (holes in code space decode to non-digits).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

BANDWIDTHS = (0.2, 0.5, 1.0, 2.0, 5.0)


def mmd2(x: Any, y: Any) -> float:
    """Unbiased MMD^2 between samples x (n, d) and y (m, d), RBF mixture k = mean_s exp(-|a-b|^2 / (2 s d))."""
    import torch

    d = x.shape[1]

    def k(a: Any, b: Any) -> Any:
        sq = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-sq / (2 * s * d)) for s in BANDWIDTHS) / len(BANDWIDTHS)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def gaussian_fit(z: Any) -> tuple[float, float]:
    """(|mean|, ||Cov - I||_F) of codes z (n, d)."""
    import torch

    mean = z.mean(0)
    c = torch.cov(z.T).reshape(z.shape[1], z.shape[1])
    return float(mean.norm()), float((c - torch.eye(z.shape[1], device=c.device)).norm())


def make_classifier(in_dim: int, hidden: int = 256) -> Any:
    from torch import nn

    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train_classifier(x: Any, y: Any, epochs: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """A fixed digit classifier (MLP, Adam) on the training split; returns its state as numpy arrays."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    net = make_classifier(x.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for k in range(0, x.shape[0], 128):
            idx = perm[k : k + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def cached_classifier(dataset: str, params: dict[str, Any], x: Any, y: Any) -> Any:
    """The harness's scoring classifier for one dataset, trained once (seed 0) and cached on disk."""
    import torch

    from harness.artifacts import cached_pickle

    key = hashlib.sha256(json.dumps([dataset, params, "clf-v1"], sort_keys=True, default=str).encode()).hexdigest()
    state = cached_pickle("vae-classifier", key[:16], lambda: train_classifier(x, y))
    net = make_classifier(x.shape[1])
    net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    net.eval()
    return net


def classifier_scores(clf: Any, images: Any) -> tuple[float, float]:
    """(mean max-softmax confidence, entropy in nats of the predicted-class histogram)."""
    import torch

    with torch.no_grad():
        p = torch.softmax(clf(images), 1)
    conf = float(p.max(1).values.mean())
    hist = torch.bincount(p.argmax(1), minlength=p.shape[1]).float()
    hist = hist / hist.sum()
    ent = float(-(hist[hist > 0] * hist[hist > 0].log()).sum())
    return conf, ent


def nearest_train_rms(images: Any, train: Any, chunk: int = 500) -> float:
    """Mean over images of the RMS pixel distance to the nearest training image."""
    import torch

    best = []
    for k in range(0, images.shape[0], chunk):
        best.append(torch.cdist(images[k : k + chunk], train).min(1).values)
    return float(torch.cat(best).mean() / math.sqrt(images.shape[1]))


def interpolation(model: Any, clf: Any, za: Any, zb: Any, steps: int) -> tuple[float, float]:
    """(mean path-length ratio, mean classifier confidence on interior points) for code pairs."""
    import torch

    ts = torch.linspace(0, 1, steps + 1)
    with torch.no_grad():
        path = torch.stack([model.decode((1 - t) * za + t * zb) for t in ts])  # (steps+1, pairs, D)
        seg = (path[1:] - path[:-1]).norm(dim=2).sum(0)
        direct = (path[-1] - path[0]).norm(dim=1).clamp_min(1e-6)
        ratio = float((seg / direct).mean())
        inner = path[1:-1].reshape(-1, path.shape[2])
        conf, _ = classifier_scores(clf, inner)
    return ratio, conf
