"""The igr track: finite learning rates as implicit gradient regularisation (Barrett & Dherin 2021; Su 2020).

Modules: ``protocol`` (Settings, run, cost), ``recipe`` (what a method returns), ``claims``,
``exact`` (the backward-error checks on a 2-parameter model).
"""

from harness.tracks.igr.protocol import IGR

__all__ = ["IGR"]
