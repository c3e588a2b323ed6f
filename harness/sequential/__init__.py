"""Sequential seeding: group-sequential boundaries, power planning, the ``--decide`` design and its rounds.

Why a package of its own: adding seeds and testing again after each batch inflates the
false-positive rate (15-26% for looks at 5/10/15/20/30 seeds), so every added seed goes through a
design fixed before the first of them runs (alpha spending, Lan & DeMets 1983), and the verdicts
of a ``--decide`` run are read from repeated p-values against exact t-scale boundaries
(t_boundaries.py), frozen at the look where each row stops (docs/deciding-claims.md). Nothing here
imports torch.
"""
