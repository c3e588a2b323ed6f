"""Autoencoders of the vae track: a plain AE, the KL VAE, and Su's simple-regulariser VAE.

Su (post 7725): encode x as a region (centre mu, semi-axes sigma), make every point of it decode to
x (reparameterisation), and pull the regions toward the unit ball. The KL term
1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1) does that; his "simple" version sum(mu^2 + (sigma - 1)^2)
is "already very close". Near sigma = 1 the KL is 1/2 mu^2 + (sigma - 1)^2 to second order, so
the two differ only in the weight on mu (and far from sigma = 1).

Reconstruction is Bernoulli cross-entropy summed over pixels (pixels lie in [0, 1]); the report's
reconstruction metric is the per-pixel squared error of the decoded mean code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("ae", "kl", "simple")


@dataclass(frozen=True)
class AEConfig:
    """A method's choice: the regulariser kind and its weight (beta for KL, lambda for simple)."""

    kind: str
    weight: float = 1.0


def make_autoencoder(in_dim: int, hidden: int, latent: int, stochastic: bool) -> Any:
    import torch
    from torch import nn

    class AutoEncoder(nn.Module):
        """MLP encoder -> (mu, log sigma) or mu only; MLP decoder -> pixel logits."""

        def __init__(self) -> None:
            super().__init__()
            self.stochastic = stochastic
            self.latent = latent
            out = 2 * latent if stochastic else latent
            self.enc = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)
            )
            self.dec = nn.Sequential(
                nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, in_dim)
            )

        def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return split_code(self.enc(x), latent, stochastic)

        def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
            return self.dec(z)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.dec(z))

    return AutoEncoder()


def split_code(h: Any, latent: int, stochastic: bool) -> tuple[Any, Any]:
    """The encoder's output (last axis) as (mu, sigma): mu only (sigma 0) for a plain autoencoder,
    else mu and exp(log sigma), log sigma clamped to [-10, 5]. Any leading axes (a member axis too)."""
    import torch

    if not stochastic:
        return h, torch.zeros_like(h)
    mu, log_sigma = h[..., :latent], h[..., latent:].clamp(-10.0, 5.0)
    return mu, log_sigma.exp()


def regulariser(cfg: AEConfig, mu: Any, sigma: Any) -> Any:
    """Per-example space regulariser (summed over latent dims)."""
    import torch

    if cfg.kind == "ae":
        return torch.zeros(mu.shape[0], device=mu.device)
    if cfg.kind == "kl":
        return 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum(1)
    if cfg.kind == "simple":
        return (mu**2 + (sigma - 1) ** 2).sum(1)
    raise ValueError(f"unknown autoencoder kind {cfg.kind!r}")
