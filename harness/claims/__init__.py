"""One claims library for every track: the claim kinds, the verdict rule, the row selection.

A track declares its claims with these constructors (``track_claims()`` in its ``claims.py``);
the report and ``harness publish`` evaluate them on the collected results.
"""

from harness.claims.core import (
    ALPHA,
    INCONCLUSIVE,
    NA,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    ClaimResult,
    direction_verdict,
    equivalence_verdict,
    exact,
    fmt,
)
from harness.claims.paired import (
    best_valid_selector,
    better,
    close_to,
    noninferior,
    paired_better,
    per_dataset,
    ratio_claim,
    speedup_claim,
    tuned_better,
)
from harness.claims.proportions import above_chance, proportions_better
from harness.claims.select import datasets, ok_by_seed, ok_rows, rows_for
from harness.claims.trend import trend

__all__ = [
    "ALPHA",
    "INCONCLUSIVE",
    "NA",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "Claim",
    "ClaimResult",
    "above_chance",
    "best_valid_selector",
    "better",
    "close_to",
    "datasets",
    "direction_verdict",
    "equivalence_verdict",
    "exact",
    "fmt",
    "noninferior",
    "ok_by_seed",
    "ok_rows",
    "paired_better",
    "per_dataset",
    "proportions_better",
    "ratio_claim",
    "rows_for",
    "speedup_claim",
    "trend",
    "tuned_better",
]
