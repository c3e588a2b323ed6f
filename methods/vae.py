"""vae methods: a plain autoencoder and Su's simple space regulariser."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.vae.model import AEConfig


@method("ae", track="vae")
def ae() -> AEConfig:
    """Plain autoencoder: deterministic code, reconstruction loss only (no space regulariser)."""
    return AEConfig("ae", 0.0)


@method("vae-simple", track="vae", bounds={"weight": (0.0, 100.0)})
def vae_simple(weight: float = 1.0) -> AEConfig:
    """Su's simple regulariser: reparameterised code plus weight * sum(mu^2 + (sigma - 1)^2)."""
    return AEConfig("simple", weight)
