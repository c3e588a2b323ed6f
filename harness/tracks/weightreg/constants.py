"""Names the weightreg protocol, claims and figures share: the FGSM radii, their metric names, the models.

A module of its own so that ``claims`` and ``figures`` read them without importing ``protocol``,
which imports ``claims`` and ``figures``.
"""

from __future__ import annotations

FGSM_EPS = (0.1, 0.25, 0.5)  # in units of the training inputs' standard deviation
MODELS = ("mlp", "mlp-nobias", "cnn", "cnn-nobias")


def fgsm_name(eps: float) -> str:
    """The metric that holds the test accuracy under an FGSM attack of radius ``eps`` (in stds)."""
    return f"fgsm_acc_{eps:g}"
