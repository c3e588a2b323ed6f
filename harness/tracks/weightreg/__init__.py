"""The weightreg track: L2 and weight decay versus WEISSI (Liu, Cui & Chan 2020; Su 2020).

Modules: ``constants`` (the FGSM radii and their metric names), ``protocol`` (Settings, run,
evaluation, cost), ``recipe`` (the ``Regularizer`` a method
returns), ``claims`` (with the best-validation coefficient choice), ``exact`` (rescaling checks),
``figures``.
"""

from harness.tracks.weightreg.protocol import WeightReg

__all__ = ["WeightReg"]
