"""vae baseline: the standard VAE with the KL term to N(0, I)."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.vae.model import AEConfig


@method("vae-kl", track="vae", baseline=True, bounds={"beta": (0.0, 100.0)})
def vae_kl(beta: float = 1.0) -> AEConfig:
    """Reparameterised code plus beta * 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1) (beta = 1: the ELBO)."""
    return AEConfig("kl", beta)
