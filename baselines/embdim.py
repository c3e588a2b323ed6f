"""embdim baseline: Su's model itself, q(j|i) = softmax_j <u_i, v_j> with separate centre/context vectors."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.embdim.train import EmbConfig


@method("skipgram", track="embdim", baseline=True, bounds={"dim": (1, 4096)})
def skipgram(dim: int = 64) -> EmbConfig:
    """Full-softmax skip-gram without biases (the p(w_i, w_j) = exp<u_i, v_j>/Z of the derivation)."""
    return EmbConfig(dim=dim, tied=False)
