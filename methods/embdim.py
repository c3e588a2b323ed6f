"""embdim methods: softmax skip-gram variants; the dimension n is the swept parameter."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.embdim.train import EmbConfig

DIM = (1, 4096)


@method("skipgram-tied", track="embdim", bounds={"dim": DIM})
def skipgram_tied(dim: int = 64) -> EmbConfig:
    """One vector per word for both roles (q(j|i) = softmax <u_i, u_j>): half the parameters."""
    return EmbConfig(dim=dim, tied=True)
