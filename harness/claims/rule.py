"""The one verdict rule, for fixed designs (a plain run) and sequential ones (``harness run --decide``).

One family per claim, its testable rows the units, family-wise error 0.05. Each row carries
one-sided tests (sample.py): superiority, trend and ratio rows "up" (mu > 0, the claimed side),
"down" (mu < 0) and, with a smallest effect delta, "small" (mu < delta); non-inferiority "above"
and "below" -margin; equivalence "lo"/"hi" (TOST: inside the band) and "out_hi"/"out_lo" (beyond
an edge). Holm's step-down runs over the rows: with j rows still open, every test of every open row
is read at the one-sided level 0.025 / j (two-sided 0.05 / j), a row with a significant test stops
with the verdict that test names, and the level rises for the rows left.

Why one family and this level: whatever the true effect, at most one of a row's possible verdicts
is wrong in a way a level-0.025 test guards (mu <= 0: "reproduced"; mu = 0 exactly: either side;
mu >= delta: "smaller", and "other side" implies "smaller" at the same level), so a row's chance
of a false verdict is at most 0.05 / j at its step and Holm's argument bounds the claim's
family-wise error by 0.05 (the unit p-value is twice the smallest one-sided p of the row).

Verdicts, read at the Holm level of the row's step (the side is never chosen at another level):
- "other side": significantly below 0 (a two-sided direction claim: not reproduced);
- "smaller than the smallest effect": significantly below delta (not reproduced), with ", on the
  claimed side" when it is also significantly above 0;
- "claimed side": significantly above 0 (reproduced), unless the printed 95% interval lies wholly
  below delta: such a row stays open (inconclusive, with a note) until "smaller" is significant at
  its Holm level, so no row reads "reproduced" with its interval below its smallest effect;
- non-inferiority "above -margin" / "below -margin"; equivalence "inside the band" (both TOST
  sides) / "outside the band".

Sequential rows (``--decide``): a row's verdict is frozen at the look where it stopped (the
ledger keeps it with its look and level) and never recomputed; the step-down runs over the open
rows in the order rows stop, counting frozen rows as rejected. This is the Holm special case of
the graphical approach to group-sequential designs (Maurer & Bretz 2013, Stat. Biopharm. Res.
5:311): each open row's test is a group-sequential test whose level, when other rows are
rejected, rises to 0.025 / j and is re-read over all its looks so far (repeated p-values). The
frozen rejections at any time are a subset of that procedure's rejections on the same data, so the
family-wise error stays at 0.05; freezing only gives up later changes of the verdict's words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.claims.row_tests import (
    FixedTests,
    Frozen,
    GivenTests,
    Look,
    RowLooks,
    SequentialTests,
    Tests,
)
from harness.claims.sample import DIRECTIONAL

__all__ = ["FixedTests", "GivenTests", "Look", "RowLooks", "SequentialTests", "Tests", "Frozen"]

ALPHA = 0.05  # the family-wise error of each claim; every one-sided test is at ALPHA / 2 / (rows open)
ONE_SIDED = ALPHA / 2
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
CLAIMED_SIDE, OTHER_SIDE = "claimed side", "other side"
SMALLER = "smaller than the smallest effect"
SMALLER_CLAIMED = "smaller than the smallest effect, on the claimed side"
ABOVE_MARGIN, BELOW_MARGIN = "above -margin", "below -margin"
INSIDE_BAND, OUTSIDE_BAND = "inside the band", "outside the band"
HELD_OPEN = (
    "significant on the claimed side, but the 95% interval lies below the smallest effect: open until "
    "'smaller than the smallest effect' is significant at its Holm level"
)


@dataclass
class RowInput:
    """A testable row as the rule sees it: its claim kind and its tests."""

    kind: str
    tests: Tests


@dataclass
class Decision:
    verdict: str
    decided_by: str = ""
    p: float = math.nan  # the row's unit p-value: twice its smallest one-sided p (capped at 1)
    p_holm: float = math.nan
    p_small: float = math.nan  # one-sided p that the effect is smaller than the smallest effect
    level: float = math.nan  # the one-sided Holm level the row was decided at
    open_rows: int = 0  # rows of the claim open at the row's step (its Holm factor)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return self.verdict in (REPRODUCED, NOT_REPRODUCED)

    def frozen(self, look: int, n: int) -> Frozen:
        return Frozen(self.verdict, self.decided_by, look, n, self.level, self.open_rows)


def family(kind: str) -> str:
    """ "direction", "margin" or "band": which decisions a claim kind's rows can reach."""
    if kind in DIRECTIONAL or kind == "above chance":
        return "direction"
    return {"non-inferiority": "margin", "equivalence": "band"}[kind]


def row_p(kind: str, tests: Tests) -> float:
    """The row's unit p-value: twice the smallest p of the tests that decide it (TOST: its larger p)."""
    fam = family(kind)
    if fam == "direction":
        ps = [tests.p(n) for n in ("up", "down", "small") if tests.has(n)]
    elif fam == "margin":
        ps = [tests.p("above"), tests.p("below")]
    else:
        ps = [max(tests.p("lo"), tests.p("hi")), min(tests.p("out_hi"), tests.p("out_lo"))]
    ps = [p for p in ps if p == p]
    return min(1.0, 2 * min(ps)) if ps else math.nan


def label(kind: str, tests: Tests, level: float) -> tuple[str, str] | None:
    """The verdict and the words for it when a test of the row is significant at the one-sided
    ``level`` (None: the row stays open)."""
    hit = {n: tests.has(n) and tests.p_le(n, level) for n in ("up", "down", "small", "above", "below")}
    fam = family(kind)
    if fam == "direction":
        if hit["down"]:
            return NOT_REPRODUCED, OTHER_SIDE
        if hit["small"]:
            return NOT_REPRODUCED, SMALLER_CLAIMED if hit["up"] else SMALLER
        if hit["up"] and not tests.interval_below_smallest():
            return REPRODUCED, CLAIMED_SIDE
        return None
    if fam == "margin":
        if hit["below"]:
            return NOT_REPRODUCED, BELOW_MARGIN
        return (REPRODUCED, ABOVE_MARGIN) if hit["above"] else None
    if tests.p_le("out_hi", level) or tests.p_le("out_lo", level):
        return NOT_REPRODUCED, OUTSIDE_BAND
    if tests.p_le("lo", level) and tests.p_le("hi", level):
        return REPRODUCED, INSIDE_BAND
    return None


def held_open(kind: str, tests: Tests, level: float) -> bool:
    """Significant on the claimed side at ``level`` but kept open: its interval lies below delta."""
    return family(kind) == "direction" and tests.p_le("up", level) and tests.interval_below_smallest()


def step_down(rows: Sequence[RowInput], rejected: set[int] | frozenset[int] = frozenset()) -> dict[int, Decision]:
    """Holm's step-down over the rows not in ``rejected`` (rows already decided count as rejected):
    every open row with a significant test at 0.025 / (rows open) stops with its verdict; repeat."""
    done, out = set(rejected), {}
    while True:
        open_rows = [i for i in range(len(rows)) if i not in done]
        if not open_rows:
            return out
        level = ONE_SIDED / len(open_rows)
        hits = {i: label(rows[i].kind, rows[i].tests, level) for i in open_rows}
        hits = {i: h for i, h in hits.items() if h is not None}
        if not hits:
            return out
        for i, (verdict, words) in hits.items():
            out[i] = Decision(verdict, words, level=level, open_rows=len(open_rows))
        done |= set(hits)


def decide(
    rows: Sequence[RowInput],
    frozen: Mapping[int, Frozen] | None = None,
    with_p: bool = True,
    sequential: bool = False,
) -> list[Decision]:
    """Verdicts of a claim's testable rows. ``frozen``: rows (by index) that stopped earlier with the
    verdict given; they count as rejected and are never re-decided. ``with_p``: also the p-values to
    print (a simulation skips them). ``sequential``: Holm-adjusted p in the order rows stopped (the
    row's p times the rows open at its step, or open now), else statsmodels' Holm."""
    frozen = dict(frozen or {})
    out: list[Decision] = [Decision(INCONCLUSIVE) for _ in rows]
    for i, f in frozen.items():
        out[i] = Decision(f.verdict, f.decided_by, level=f.level, open_rows=f.open_rows)
    new = step_down(rows, set(frozen))
    for i, d in new.items():
        out[i] = d
    still_open = [i for i in range(len(rows)) if not out[i].decided]
    level = ONE_SIDED / len(still_open) if still_open else ONE_SIDED
    for i in still_open:
        out[i].open_rows = len(still_open)
        if held_open(rows[i].kind, rows[i].tests, level):
            out[i].note = HELD_OPEN
    if with_p:
        _p_values(rows, out, sequential or bool(frozen))
    return out


def _p_values(rows: Sequence[RowInput], out: list[Decision], sequential: bool) -> None:
    from harness.stats import holm

    ps = [row_p(r.kind, r.tests) for r in rows]
    adjusted = holm(ps) if not sequential else [min(1.0, p * d.open_rows) if p == p else p for p, d in zip(ps, out)]
    for d, r, p, ph in zip(out, rows, ps, adjusted):
        d.p, d.p_holm = p, ph
        d.p_small = r.tests.p("small") if family(r.kind) == "direction" and r.tests.has("small") else math.nan
