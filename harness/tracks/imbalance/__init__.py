"""The imbalance track: which loss or decision rule to use when classes are long-tailed.

Modules: ``protocol`` (Settings, run, cost, the class-group metrics), ``claims``, ``exact`` (the
closed forms of the logit-adjusted loss and of the smooth-F1 gradient, checked against the methods).
A method is a loss function ``fn(logits, targets, prior, **params)`` (``methods/imbalance.py``).
"""

from harness.tracks.imbalance.protocol import Imbalance

__all__ = ["Imbalance"]
