"""The embdim track: Su's bound n > 8.33 log N on the word-vector dimension.

Modules: ``protocol`` (Settings, run, cost), ``train`` (full-softmax skip-gram and the ``EmbConfig``
a method returns), ``exact`` (h_n by quadrature), ``claims`` (with the knee figure).
"""

from harness.tracks.embdim.protocol import Embdim

__all__ = ["Embdim"]
