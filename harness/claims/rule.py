"""The one verdict rule, for fixed designs (a plain run) and sequential ones (``harness run --decide``).

Each testable row carries one-sided tests at 0.025 (sample.py). Two families per claim, each
corrected by Holm over the claim's testable rows:

- the main family: direction (superiority, trend, ratio, above chance: two-sided p < 0.05, the
  side names the verdict), margin (non-inferiority: one-sided p < 0.025 above or below -margin)
  or band (equivalence: TOST p < 0.025 inside, or one-sided p < 0.025 beyond an edge);
- the smallest-effect family (superiority and trend): one-sided p < 0.025 that the effect is
  smaller than the declared smallest effect of interest.

Verdicts: reproduced (main family, claimed side; flagged when also significantly smaller than the
smallest effect), not reproduced (main family, other side; or smaller than the smallest effect),
else inconclusive. A plain run reads fixed-n p-values; a row in a ``--decide`` design reads the
sequential p-values of its looks (boundaries.py), so adding seeds never inflates the error rate.

Why decisions by "crossed at level L": Holm's step-down needs only whether each p-value lies below
alpha/(m - r), which for a sequential row is a boundary check, cheap enough to simulate tens of
thousands of designs through this same code (tests/test_sequential_error_control.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.claims.sample import DIRECTIONAL, RowSample
from harness.sequential.boundaries import boundaries, crossed, info_key, sequential_p, t_to_z, z_to_t

ALPHA = 0.05  # two-sided tests; every one-sided test is at ALPHA / 2
ONE_SIDED = ALPHA / 2
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
CLAIMED_SIDE, OTHER_SIDE = "claimed side", "other side"
SMALLER = "smaller than the smallest effect"
FLAG_SMALLER = "claimed side; smaller than the smallest effect of interest"
ABOVE_MARGIN, BELOW_MARGIN = "above -margin", "below -margin"
INSIDE_BAND, OUTSIDE_BAND = "inside the band", "outside the band"


class Tests(Protocol):
    """p-values of a row's one-sided tests, by name ("up", "down", "small", "above", ...)."""

    def p(self, name: str) -> float: ...

    def p_le(self, name: str, level: float) -> bool: ...


class FixedTests:
    """Fixed-n p-values of a sample's tests (the plain run's rule)."""

    def __init__(self, sample: RowSample):
        self._p = {t.name: sample.p_fixed(t) for t in sample.tests()}

    def p(self, name: str) -> float:
        return self._p.get(name, math.nan)

    def p_le(self, name: str, level: float) -> bool:
        p = self.p(name)
        return p == p and p < level


class GivenTests:
    """A row tested over test examples, not seeds: a two-sided p-value with its side, and an optional
    one-sided p-value for "smaller than the smallest effect"."""

    def __init__(self, p_two_sided: float, supports: bool | None, p_small: float = math.nan):
        half = p_two_sided / 2 if p_two_sided == p_two_sided else math.nan
        on, off = (half, 1 - half) if supports else (1 - half, half)
        self._p = {"up": on, "down": off, "small": p_small} if supports is not None else {"small": p_small}

    def p(self, name: str) -> float:
        return self._p.get(name, math.nan)

    def p_le(self, name: str, level: float) -> bool:
        p = self.p(name)
        return p == p and p < level


@dataclass
class Look:
    """What one look at a row saw: its number, the seeds, the mean and sd of the row's values."""

    look: int
    n: int
    mean: float
    sd: float


class SequentialTests:
    """Sequential p-values of a row's tests from its looks, under alpha spending to ``n_max`` seeds."""

    def __init__(self, sample: RowSample, looks: Sequence[Look], n_max: int, spending: str = "obf"):
        self.spending = spending
        kept: list[Look] = []
        for lk in sorted(looks, key=lambda x: x.look):
            if lk.n >= 2 and (not kept or lk.n > kept[-1].n):
                kept.append(lk)
        self.looks = kept
        self.info = info_key(min(lk.n / n_max, 1.0) for lk in kept)
        self.z = {
            t.name: [t_to_z(sample.t_stat(t, lk.n, lk.mean, lk.sd), lk.n - 1) for lk in kept] for t in sample.tests()
        }
        self._p: dict[str, float] = {}

    def p(self, name: str) -> float:
        if name not in self.z:
            return math.nan
        if name not in self._p:
            self._p[name] = sequential_p(self.z[name], self.info, self.spending) if self.info else math.nan
        return self._p[name]

    def p_le(self, name: str, level: float) -> bool:
        return name in self.z and bool(self.info) and crossed(self.z[name], self.info, level, self.spending)

    def interval(self) -> tuple[float, float]:
        """The repeated 95% confidence interval at the last look (two-sided: 0.025 spent on each side),
        the interval that agrees with the sequential verdict."""
        if not self.looks:
            return math.nan, math.nan
        lk = self.looks[-1]
        c = boundaries(self.info, ONE_SIDED, self.spending)[-1]
        half = z_to_t(c, lk.n - 1) * lk.sd / math.sqrt(lk.n)
        return lk.mean - half, lk.mean + half


@dataclass
class RowLooks:
    """A row of a ``--decide`` design: its maximum seeds, spending function and the looks taken."""

    n_max: int
    looks: list[Look]
    spending: str = "obf"


@dataclass
class RowInput:
    """A testable row as the rule sees it: its claim kind and its tests."""

    kind: str
    tests: Tests


@dataclass
class Decision:
    verdict: str
    decided_by: str = ""
    p: float = math.nan
    p_holm: float = math.nan
    p_small: float = math.nan
    p_small_holm: float = math.nan
    extra: dict[str, Any] = field(default_factory=dict)


def family(kind: str) -> str:
    """ "direction", "margin" or "band": which main family a claim kind's rows belong to."""
    if kind in DIRECTIONAL or kind == "above chance":
        return "direction"
    return {"non-inferiority": "margin", "equivalence": "band"}[kind]


def main_p(kind: str, tests: Tests) -> tuple[float, bool | None]:
    """The main family's p-value of a row and whether its side supports the claim."""
    fam = family(kind)
    if fam == "direction":
        up, down = tests.p("up"), tests.p("down")
        if math.isnan(up) or math.isnan(down):
            return math.nan, None
        return min(1.0, 2 * min(up, down)), up < down
    if fam == "margin":
        above, below = tests.p("above"), tests.p("below")
        return (math.nan, None) if math.isnan(above) else (min(above, below), above < below)
    inside = max(tests.p("lo"), tests.p("hi"))
    outside = min(tests.p("out_hi"), tests.p("out_lo"))
    return (math.nan, None) if math.isnan(inside) else (min(inside, outside), inside < outside)


def main_rejects(kind: str, tests: Tests, level: float) -> tuple[bool, bool]:
    """Does the main family's p-value lie below ``level``, and on the claimed side?"""
    fam = family(kind)
    if fam == "direction":
        up, down = tests.p_le("up", level / 2), tests.p_le("down", level / 2)
        return up or down, up
    if fam == "margin":
        above = tests.p_le("above", level)
        return above or tests.p_le("below", level), above
    inside = tests.p_le("lo", level) and tests.p_le("hi", level)
    return inside or tests.p_le("out_hi", level) or tests.p_le("out_lo", level), inside


def family_alpha(kind: str) -> float:
    return ALPHA if family(kind) == "direction" else ONE_SIDED


def holm_rejections(n: int, rejects: Callable[[int, float], bool], alpha: float) -> set[int]:
    """Holm's step-down over ``n`` hypotheses given only "is p_i below level L?": reject every
    remaining hypothesis below alpha / (number remaining), repeat until none is."""
    remaining, rejected = set(range(n)), set()
    while remaining:
        level = alpha / len(remaining)
        hits = {i for i in remaining if rejects(i, level)}
        if not hits:
            break
        rejected |= hits
        remaining -= hits
    return rejected


def decide(rows: Sequence[RowInput], with_p: bool = True) -> list[Decision]:
    """Verdicts of a claim's testable rows (Holm within each family). ``with_p``: also the p-values
    to print (a sequential row computes them by root finding; a simulation skips them)."""
    from harness.stats import holm

    if not rows:
        return []
    alpha = family_alpha(rows[0].kind)
    main = holm_rejections(len(rows), lambda i, lv: main_rejects(rows[i].kind, rows[i].tests, lv)[0], alpha)
    smalls = [i for i, r in enumerate(rows) if family(r.kind) == "direction" and _has(r.tests, "small")]
    small_hits = holm_rejections(len(smalls), lambda j, lv: rows[smalls[j]].tests.p_le("small", lv), ONE_SIDED)
    small = {smalls[j] for j in small_hits}
    out = []
    for i, r in enumerate(rows):
        d = Decision(INCONCLUSIVE)
        if i in main:
            # the side: whether the claimed side's test is among those below the family's level
            supports = main_rejects(r.kind, r.tests, alpha)[1]
            d.verdict = REPRODUCED if supports else NOT_REPRODUCED
            d.decided_by = _side_words(r.kind, bool(supports))
            if supports and i in small:
                d.decided_by = FLAG_SMALLER
        elif i in small:
            d.verdict, d.decided_by = NOT_REPRODUCED, SMALLER
        out.append(d)
    if with_p:
        mains = [main_p(r.kind, r.tests)[0] for r in rows]
        for d, p, ph in zip(out, mains, holm(mains)):
            d.p, d.p_holm = p, ph
        ps = [rows[i].tests.p("small") for i in smalls]
        for i, p, ph in zip(smalls, ps, holm(ps)):
            out[i].p_small, out[i].p_small_holm = p, ph
    return out


def _has(tests: Tests, name: str) -> bool:
    if isinstance(tests, SequentialTests):
        return name in tests.z
    return not math.isnan(tests.p(name))


def _side_words(kind: str, supports: bool) -> str:
    fam = family(kind)
    if fam == "direction":
        return CLAIMED_SIDE if supports else OTHER_SIDE
    if fam == "margin":
        return ABOVE_MARGIN if supports else BELOW_MARGIN
    return INSIDE_BAND if supports else OUTSIDE_BAND
