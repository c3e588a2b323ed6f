"""The embdim track: Su's bound n > 8.33 log N on the word-vector dimension.

Modules: ``protocol`` (Settings, run, cost), ``train`` (full-softmax skip-gram and the ``EmbConfig``
a method returns), ``exact`` (h_n by quadrature), ``claims`` (with the knee figure).

Cell groups: embdim cells train alone (``Track.group_key`` is None). The embedding width is the
method's own parameter (n = 8..256 in one block), so the arms of a block do not share a shape, and
a seed group of one arm would stack (N, n) tables whose full-softmax step is already one large
matrix product per cell; the loop itself keeps the device busy (rows drawn up front, the count
matrix dense on the device when it fits, no host sync per step: ``train.train_steps``).
"""

from harness.tracks.embdim.protocol import Embdim

__all__ = ["Embdim"]
