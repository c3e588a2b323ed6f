"""The claim object, its result rows and the one verdict rule every claim follows.

Why one rule: a reader must be able to trust that "reproduced" means the same thing in every
table. Each claim declares its kind, metric and direction, its smallest effect of interest
(superiority and trend) or margin (non-inferiority, equivalence), its published value (with
source and whether our setting is comparable) and its preconditions. Each row (one dataset or
setting) is reduced to per-seed paired values (``sample.RowSample``) or, for tests over test
examples, a p-value; rule.py turns the rows of a claim into verdicts with Holm's correction:

- ``reproduced``: significant on the claimed side (flagged when also significantly smaller than
  the smallest effect of interest);
- ``not reproduced``: significant on the other side, or significantly smaller than the smallest
  effect of interest;
- ``inconclusive``: neither (inside seed noise);
- ``untestable``: a declared precondition failed (the reason is given); not part of the family;
- ``exploratory``: a seed row of a track whose rows a ``--decide`` design registered before the row
  appeared: estimate and interval only, no verdict (reading.py);
- ``descriptive``: a measurement reported without a verdict; ``n.a.``: no results.

Every test is one-sided at 0.025 (two-sided 0.05), so a verdict agrees with the printed 95%
interval. Rows of a ``harness run --decide`` design read repeated p-values against exact t-scale
boundaries, their verdicts frozen at the look where they stopped (rule.py, reading.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.claims.reading import (
    EXPLORATORY,
    DesignReading,
    as_reading,
    describe,
    exploratory,
    sequential_tests,
    with_replayed,
)
from harness.claims.row_tests import FixedTests, GivenTests, RowLooks
from harness.claims.rule import RowInput, decide
from harness.claims.sample import SEED_KINDS, RowSample, SmallestEffect
from harness.errors import HarnessError

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
UNTESTABLE, DESCRIPTIVE, NA = "untestable", "descriptive", "n.a."
COUNTED = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNTESTABLE, EXPLORATORY)
KINDS = (
    "superiority",
    "non-inferiority",
    "equivalence",
    "ratio",
    "trend",
    "above chance",
    "exact",
    "descriptive",
)
COMPARABLE, OTHER_SETTING = "comparable", "other data or scale"
NEEDS_SMALLEST_EFFECT = ("superiority", "trend")


@dataclass(frozen=True)
class Published:
    """A number from a paper or post, with where it comes from.

    ``comparable``: True when our setting is the paper's; a tuple of registered dataset names
    when only those datasets match it (e.g. ``("cifar10-lt",)`` at paper scale); False otherwise.
    Pilots and our own derived constants are not published values: put them in a claim's ``note``.
    """

    value: str
    source: str
    comparable: bool | tuple[str, ...] = False
    effect: float | None = None  # the published effect in the claim's units: bounds the smallest effect

    def text(self) -> str:
        return f"{self.value} ({self.source})"

    def mark(self, dataset_names: set[str] | None = None) -> str:
        """``comparable`` or ``other data or scale`` for rows on ``dataset_names``."""
        if isinstance(self.comparable, tuple):
            ok = bool(dataset_names) and all(n in self.comparable for n in dataset_names)
            return COMPARABLE if ok else OTHER_SETTING
        return COMPARABLE if self.comparable else OTHER_SETTING


@dataclass
class ClaimResult:
    """One row of a claims table."""

    claim: str
    published: str
    ours: str
    verdict: str
    dataset: str = ""
    kind: str = ""
    comparable: str = ""
    p: float = math.nan  # the row's unit p-value (twice its smallest one-sided p; repeated p for --decide)
    p_holm: float = math.nan
    q: float = math.nan  # Benjamini-Yekutieli q-value across every testable row published together
    headline: bool = False  # the claim the report's summary shows for its track
    smallest_effect: float = math.nan
    n: int | None = None  # seeds (tests over seeds) at the verdict
    look: int | None = None  # the look of a --decide design the verdict was read at
    decided_by: str = ""
    p_small: float = math.nan  # one-sided p that the effect is smaller than the smallest effect
    estimate: float = math.nan  # the row's paired estimate (its sample's units) and its 95% interval
    ci_lo: float = math.nan
    ci_hi: float = math.nan
    thresholds: tuple[float, ...] = ()
    units: str = ""
    seed_var: float = math.nan  # variance of the estimate from seeds (sd^2 / n) ...
    test_var: float = math.nan  # ... and from the test examples (per-example predictions), in units^2
    n_updated: int | None = None  # a --decide row with more seeds than its verdict's look: how many ...
    estimate_updated: float = math.nan  # ... and their mean (labelled; the verdict stays that of its look)
    row_id: str = ""
    family: str = ""  # the claim the row belongs to (its Holm family)
    sample: RowSample | None = None  # the per-seed values (planning and --decide read them)


@dataclass
class Evidence:
    """What a claim kind measured on one row, before the family correction.

    ``supports``: the estimate lies on the claimed side. ``untestable``: the reason a precondition
    failed. ``verdict``: a fixed verdict (exact checks, descriptive rows, no data).
    """

    dataset: str
    ours: str
    p: float = math.nan
    supports: bool | None = None
    untestable: str = ""
    verdict: str = ""
    label: str = ""  # appended to the claim text, e.g. the method of a per-method trend
    dataset_names: set[str] = field(default_factory=set)
    sample: RowSample | None = None  # per-seed paired values: the rule tests these instead of ``p``
    p_small: float = math.nan  # tests over examples: one-sided p of "smaller than the smallest effect"


def row_id(track: str, claim: str, dataset: str) -> str:
    """A stable id of one claim row (track, claim text with its label, dataset), for --decide designs."""
    return hashlib.sha256(f"{track}\x1f{claim}\x1f{dataset}".encode()).hexdigest()[:16]


@dataclass
class Claim:
    """A claim: ``rows(table, track) -> list[Evidence]`` plus what it declares.

    ``family`` is all testable rows of this claim: Holm corrects their p-values together.
    ``smallest_effect`` (superiority and trend, required) is in the metric's units.
    """

    text: str
    rows: Callable[[Any, Any], list[Evidence]]
    kind: str = "superiority"
    metric: str = ""
    direction: str = ""  # "higher" | "lower" | "increasing" | "decreasing" | "" (not directional)
    published: Published | None = None
    note: str = ""
    preconditions: tuple[Any, ...] = ()
    headline: bool = False
    smallest_effect: SmallestEffect | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HarnessError(f"claim {self.text!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if isinstance(self.published, str):  # a plain string is a note, never a published value
            self.note = "; ".join(x for x in (self.note, self.published) if x)
            self.published = None
        if self.kind in NEEDS_SMALLEST_EFFECT and self.smallest_effect is None:
            raise HarnessError(
                f"claim {self.text!r}: a {self.kind} claim needs smallest_effect=SmallestEffect(value, reason) "
                f"in {self.metric or 'the metric'}'s units"
            )
        effect = self.published.effect if self.published else None
        if self.smallest_effect is not None and effect is not None and self.smallest_effect.value > abs(effect):
            raise HarnessError(
                f"claim {self.text!r}: smallest_effect {self.smallest_effect.value:g} is larger than the "
                f"published effect {abs(effect):g}"
            )

    def evaluate(
        self, table: Any, track: Any, looks: DesignReading | Mapping[str, RowLooks] | None = None
    ) -> list[ClaimResult]:
        """Rows with p-values, Holm over the claim's testable rows, and the verdicts of the rule.

        ``looks``: the reading of a ``--decide`` design (reading.py): its registered rows read their
        looks (a frozen verdict stays as it froze), unregistered seed rows of its tracks are exploratory."""
        reading = as_reading(looks)
        try:
            evidence = self.rows(table, track)
        except Exception as exc:  # a broken claim shows as such; it never breaks the report
            evidence = [Evidence("", f"check failed: {type(exc).__name__}: {exc}", verdict=NA)]
        if not evidence:
            evidence = [Evidence("", "no results", verdict=NA)]
        track_name = str(getattr(track, "name", track or ""))
        out = [self._result(e, track_name) for e in evidence]
        tested, inputs, designs = [], [], []
        for r, e in zip(out, evidence):
            if not self._testable(e):
                continue
            design = reading.get(r.row_id) if reading is not None else None
            if design is None or not design.looks:
                if reading is not None and e.sample is not None and track_name in reading.tracks:
                    exploratory(r)
                    continue
                design = None
            tested.append((r, e))
            designs.append(design)
        registered = [i for i, d in enumerate(designs) if d is not None]
        replayed = with_replayed(self.kind, [(tested[i][1].sample, designs[i]) for i in registered])
        for i, d in zip(registered, replayed):
            designs[i] = d
        frozen = {i: d.frozen for i, d in enumerate(designs) if d is not None and d.frozen is not None}
        for (_, e), design in zip(tested, designs):
            if design is not None:
                inputs.append(RowInput(self.kind, sequential_tests(e.sample, design)))
            else:
                tests = GivenTests(e.p, e.supports, e.p_small) if e.sample is None else FixedTests(e.sample)
                inputs.append(RowInput(self.kind, tests))
        sequential = bool(registered)
        for (r, _), inp, d, design in zip(tested, inputs, decide(inputs, frozen, sequential=sequential), designs):
            r.verdict, r.decided_by, r.p, r.p_holm, r.p_small = d.verdict, d.decided_by, d.p, d.p_holm, d.p_small
            if d.note:
                r.ours += f"; {d.note}"
            if design is not None:
                describe(r, inp.tests, design, fmt)
                if reading.note:
                    r.ours += f"; {reading.note}"
        return out

    def _testable(self, e: Evidence) -> bool:
        if e.verdict or e.untestable:
            return False
        if e.sample is not None:
            return e.sample.n >= 2
        return not math.isnan(e.p)

    def _result(self, e: Evidence, track_name: str) -> ClaimResult:
        text = f"{self.text} ({e.label})" if e.label else self.text
        ours = e.ours if not e.untestable else f"{e.untestable}; {e.ours}" if e.ours else e.untestable
        if self.note:
            ours = f"{ours} (note: {self.note})"
        verdict = e.verdict or (UNTESTABLE if e.untestable else INCONCLUSIVE)
        r = ClaimResult(
            claim=text,
            published=self.published.text() if self.published else "",
            ours=ours,
            verdict=verdict,
            dataset=e.dataset,
            kind=self.kind,
            comparable=self.published.mark(e.dataset_names) if self.published else "",
            headline=self.headline,
            smallest_effect=self.smallest_effect.value if self.smallest_effect else math.nan,
            row_id=row_id(track_name, text, e.dataset),
            family=f"{track_name}: {self.text}",
        )
        if e.verdict in (REPRODUCED, NOT_REPRODUCED) and self.kind == "exact":
            r.decided_by = "exact"
        s = e.sample
        if s is not None and self.kind in SEED_KINDS:
            r.sample, r.n, r.estimate, r.units = s, s.n, s.mean, s.units
            r.ci_lo, r.ci_hi = s.ci()
            r.seed_var, r.test_var = s.seed_var, s.test_var
            r.thresholds = s.thresholds()
        return r


def fmt(x: float) -> str:
    """Three significant digits for small or large numbers, four decimals otherwise."""
    if x is None or math.isnan(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e-2 or abs(x) >= 1e3 else f"{x:.4f}"


def counts(results: list[ClaimResult]) -> dict[str, int]:
    """How many rows got each verdict (reproduced, not reproduced, inconclusive, untestable, ...)."""
    out = {v: 0 for v in COUNTED}
    for r in results:
        out[r.verdict] = out.get(r.verdict, 0) + 1
    return out


def headline(claim: Claim) -> Claim:
    """Mark ``claim`` as its track's headline (shown in the report's summary); returns it."""
    claim.headline = True
    return claim
