"""The claim object, its result rows and the one verdict rule every claim follows.

Why one rule: a reader must be able to trust that "reproduced" means the same thing in every
table. Each claim declares its kind, metric and direction, its published value (with source and
whether our setting is comparable) and its preconditions. Each row (one dataset or setting) gets
a raw p-value from the kind's test; the family is all rows of the claim, corrected by Holm; the
verdict is read from the Holm p-value at alpha = 0.05:

- ``reproduced``: Holm p < 0.05 and the estimate lies on the claimed side;
- ``not reproduced``: Holm p < 0.05 and the estimate lies on the other side;
- ``inconclusive``: Holm p >= 0.05 (inside seed noise);
- ``untestable``: a declared precondition failed (the reason is given); not part of the family;
- ``descriptive``: a measurement reported without a verdict; ``n.a.``: no results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
UNTESTABLE, DESCRIPTIVE, NA = "untestable", "descriptive", "n.a."
COUNTED = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, UNTESTABLE)
ALPHA = 0.05
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
    p: float = math.nan
    p_holm: float = math.nan
    headline: bool = False  # the claim the report's summary shows for its track


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


def verdict_from(p_holm: float, supports: bool | None) -> str:
    """The rule: Holm p < alpha decides, the side of the estimate names the verdict."""
    if p_holm is None or math.isnan(p_holm) or supports is None:
        return INCONCLUSIVE
    if p_holm < ALPHA:
        return REPRODUCED if supports else NOT_REPRODUCED
    return INCONCLUSIVE


@dataclass
class Claim:
    """A claim: ``rows(table, track) -> list[Evidence]`` plus what it declares.

    ``family`` is all rows of this claim: Holm corrects their p-values together.
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

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if isinstance(self.published, str):  # a plain string is a note, never a published value
            self.note = "; ".join(x for x in (self.note, self.published) if x)
            self.published = None

    def evaluate(self, table: Any, track: Any) -> list[ClaimResult]:
        """Rows with raw p, Holm p over the claim's testable rows, and the verdict from Holm p."""
        try:
            evidence = self.rows(table, track)
        except Exception as exc:  # a broken claim shows as such; it never breaks the report
            evidence = [Evidence("", f"check failed: {type(exc).__name__}: {exc}", verdict=NA)]
        if not evidence:
            evidence = [Evidence("", "no results", verdict=NA)]
        from harness.stats import holm

        tested = [e for e in evidence if not e.verdict and not e.untestable and not math.isnan(e.p)]
        adjusted = dict(zip(map(id, tested), holm([e.p for e in tested])))
        out = []
        for e in evidence:
            p_holm = adjusted.get(id(e), math.nan)
            if e.verdict:
                verdict = e.verdict
            elif e.untestable:
                verdict = UNTESTABLE
            else:
                verdict = verdict_from(p_holm, e.supports)
            ours = e.ours if not e.untestable else f"{e.untestable}; {e.ours}" if e.ours else e.untestable
            if self.note:
                ours = f"{ours} (note: {self.note})"
            out.append(
                ClaimResult(
                    claim=f"{self.text} ({e.label})" if e.label else self.text,
                    published=self.published.text() if self.published else "",
                    ours=ours,
                    verdict=verdict,
                    dataset=e.dataset,
                    kind=self.kind,
                    comparable=self.published.mark(e.dataset_names) if self.published else "",
                    p=e.p if not e.untestable else math.nan,
                    p_holm=p_holm,
                    headline=self.headline,
                )
            )
        return out


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
