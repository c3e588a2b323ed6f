"""The igr track: finite learning rates as implicit gradient regularisation (Barrett & Dherin 2021; Su 2020).

Modules: ``settings`` (the Settings dataclass), ``protocol`` (run, cost), ``recipe`` (what a method
returns), ``blocks`` (what claims and figures read off a block of results), ``claims``, ``figures``,
``exact`` (the backward-error checks on a 2-parameter model). Imports run one way: ``protocol`` reads
``claims`` and ``figures``, which read ``blocks``, ``settings`` and ``exact``, never ``protocol``.
"""

from harness.tracks.igr.protocol import IGR

__all__ = ["IGR"]
