"""One claims library for every track: the claim kinds, the verdict rule, the row selection.

A track declares its claims with these constructors (``track_claims()`` in its ``claims.py``);
the report and ``harness publish`` evaluate them on the collected results. The rule (rule.py):
each row is reduced to per-seed paired values (sample.py) or a p-value over test examples; its
one-sided tests run at 0.025 / (rows open); Holm's step-down runs over a claim's rows (family-wise
0.05); the verdict says which test decided it (claimed side, other side, smaller than the smallest
effect, margin, band); a failed precondition makes a row ``untestable``.
"""

from harness.claims.core import (
    COMPARABLE,
    COUNTED,
    DESCRIPTIVE,
    EXPLORATORY,
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
    row_id,
)
from harness.claims.paired import better, equivalence, noninferiority, paired_better, ratio, superiority
from harness.claims.preconditions import Precondition, min_grid, min_runs, requires
from harness.claims.proportions import above_chance, proportions_better
from harness.claims.reading import DesignReading
from harness.claims.row_tests import Frozen, Look, RowLooks
from harness.claims.rule import ALPHA, ONE_SIDED
from harness.claims.sample import RowSample, SmallestEffect
from harness.claims.select import Fixed, Tuned, best_valid_selector, datasets, ok_by_seed, ok_rows, rows_for
from harness.claims.simple import descriptive, exact, exact_on_results
from harness.claims.trend import trend

__all__ = [
    "ALPHA",
    "COMPARABLE",
    "COUNTED",
    "DESCRIPTIVE",
    "DesignReading",
    "EXPLORATORY",
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
    "Frozen",
    "Look",
    "ONE_SIDED",
    "RowLooks",
    "RowSample",
    "SmallestEffect",
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
    "row_id",
    "proportions_better",
    "ratio",
    "requires",
    "rows_for",
    "superiority",
    "trend",
]
