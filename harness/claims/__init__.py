"""One claims library for every track: the claim kinds, the verdict rule, the row selection.

A track declares its claims with these constructors (``track_claims()`` in its ``claims.py``);
the report and ``harness publish`` evaluate them on the collected results. The rule (core.py):
each row's raw p-value comes from the kind's test; Holm corrects all rows of a claim together;
the verdict is read from the Holm p-value at alpha = 0.05 and the side of the estimate; a failed
precondition makes a row ``untestable``. API summary for track authors: notes/claims-api.md.
"""

from harness.claims.core import (
    ALPHA,
    COMPARABLE,
    COUNTED,
    DESCRIPTIVE,
    INCONCLUSIVE,
    KINDS,
    NA,
    NOT_REPRODUCED,
    OTHER_SETTING,
    REPRODUCED,
    UNTESTABLE,
    Claim,
    ClaimResult,
    Evidence,
    Published,
    counts,
    fmt,
    headline,
    verdict_from,
)
from harness.claims.paired import better, equivalence, noninferiority, paired_better, ratio, superiority
from harness.claims.preconditions import Precondition, min_grid, min_runs, requires
from harness.claims.proportions import above_chance, proportions_better
from harness.claims.select import Fixed, Tuned, best_valid_selector, datasets, ok_by_seed, ok_rows, rows_for
from harness.claims.simple import descriptive, exact, exact_on_results
from harness.claims.trend import trend

__all__ = [
    "ALPHA",
    "COMPARABLE",
    "COUNTED",
    "DESCRIPTIVE",
    "INCONCLUSIVE",
    "KINDS",
    "NA",
    "NOT_REPRODUCED",
    "OTHER_SETTING",
    "REPRODUCED",
    "UNTESTABLE",
    "Claim",
    "ClaimResult",
    "Evidence",
    "Fixed",
    "Precondition",
    "Published",
    "Tuned",
    "above_chance",
    "best_valid_selector",
    "better",
    "counts",
    "datasets",
    "descriptive",
    "equivalence",
    "exact",
    "exact_on_results",
    "fmt",
    "headline",
    "min_grid",
    "min_runs",
    "noninferiority",
    "ok_by_seed",
    "ok_rows",
    "paired_better",
    "proportions_better",
    "ratio",
    "requires",
    "rows_for",
    "superiority",
    "trend",
    "verdict_from",
]
