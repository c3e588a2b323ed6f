"""Where a row's one-sided p-values come from: a fixed-n t test, a test over test examples, or the
looks of a ``--decide`` design read against exact t-scale boundaries.

Why one interface: the verdict rule (rule.py) asks the same three questions of every row, whatever
its evidence: the p-value of a named one-sided test (``p``), whether that test is significant at a
level (``p_le``: for a sequential row, whether its boundary at that level was crossed at some look),
and whether the 95% interval the tables print lies wholly below the smallest effect
(``interval_below_smallest``), which forbids the verdict "reproduced".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from harness.claims.sample import RowSample

if TYPE_CHECKING:
    from harness.sequential.t_boundaries import Table

INTERVAL_LEVEL = 0.025  # each side of the printed two-sided 95% interval


class Tests(Protocol):
    """p-values of a row's one-sided tests, by name ("up", "down", "small", "above", ...)."""

    def p(self, name: str) -> float: ...

    def p_le(self, name: str, level: float) -> bool: ...

    def has(self, name: str) -> bool: ...

    def interval_below_smallest(self) -> bool: ...


class _KnownP:
    """Tests whose one-sided p-values are known numbers (``self._p`` by test name)."""

    _p: dict[str, float]

    def p(self, name: str) -> float:
        return self._p.get(name, math.nan)

    def p_le(self, name: str, level: float) -> bool:
        p = self.p(name)
        return p == p and p < level

    def has(self, name: str) -> bool:
        return not math.isnan(self.p(name))

    def interval_below_smallest(self) -> bool:
        """The printed interval's upper end lies below the smallest effect (one-sided p < 0.025)."""
        return self.p_le("small", INTERVAL_LEVEL)


class FixedTests(_KnownP):
    """Fixed-n p-values of a sample's tests (a plain run): ``scipy.stats.ttest_1samp`` per test."""

    def __init__(self, sample: RowSample):
        self._p = {t.name: sample.p_fixed(t) for t in sample.tests()}


class GivenTests(_KnownP):
    """A row tested over test examples, not seeds: a two-sided p-value with its side, and an optional
    one-sided p-value for "smaller than the smallest effect"."""

    def __init__(self, p_two_sided: float, supports: bool | None, p_small: float = math.nan):
        half = p_two_sided / 2 if p_two_sided == p_two_sided else math.nan
        on, off = (half, 1 - half) if supports else (1 - half, half)
        self._p = {"up": on, "down": off, "small": p_small} if supports is not None else {"small": p_small}


@dataclass
class Look:
    """What one look at a row saw: its number, the seeds, the mean and sd of the row's values, and
    ``order``, its place among all looks of the design (the ledger's line), for replaying them."""

    look: int
    n: int
    mean: float
    sd: float
    order: int = 0


@dataclass
class RowLooks:
    """A row of a ``--decide`` design: its maximum seeds, spending, the looks taken, its schedule (the
    seed counts of its planned looks) and, once it stopped, its frozen verdict."""

    n_max: int
    looks: list[Look]
    spending: str = "obf"
    schedule: list[int] = field(default_factory=list)
    frozen: Frozen | None = None
    replay: bool = False  # a design without frozen verdicts (older method): they are replayed from the looks


@dataclass(frozen=True)
class Frozen:
    """The verdict of a row at the look where it stopped: never recomputed by a later read."""

    verdict: str
    decided_by: str
    look: int
    n: int
    level: float  # the one-sided Holm level the row was decided at (0.025 / rows open then)
    open_rows: int  # rows of its claim still open when it stopped (its Holm factor)


def kept_looks(looks: Sequence[Look], up_to: int | None = None) -> list[Look]:
    """Looks in order with at least two seeds and more seeds than the look before (``up_to``: the
    looks up to that look number only)."""
    kept: list[Look] = []
    for lk in sorted(looks, key=lambda x: x.look):
        if up_to is not None and lk.look > up_to:
            break
        if lk.n >= 2 and (not kept or lk.n > kept[-1].n):
            kept.append(lk)
    return kept


class SequentialTests:
    """Repeated p-values of a row's tests from its looks, against exact t-scale boundaries.

    Each test's statistic at look k is t_k = sign (mean_k - null) / (sd_k / sqrt(n_k)), central t at
    the edge of the test's hypothesis, so one boundary table per look sequence (t_boundaries.py)
    serves every test of every row. ``up_to``: read the looks up to that look number (a row whose
    verdict froze there)."""

    def __init__(
        self,
        sample: RowSample,
        looks: Sequence[Look],
        n_max: int,
        spending: str = "obf",
        schedule: Sequence[int] = (),
        up_to: int | None = None,
    ):
        self.looks = kept_looks(looks, up_to)
        self.n_max, self.spending, self.schedule = n_max, spending, tuple(schedule)
        self.t = {
            test.name: [sample.t_stat(test, lk.n, lk.mean, lk.sd) for lk in self.looks] for test in sample.tests()
        }
        self._table = None
        self._p: dict[str, float] = {}

    @property
    def table(self) -> Table:
        """The boundary table of the row's look sequence (imported on first read: numpy only then)."""
        from harness.sequential.t_boundaries import sequence, table

        if self._table is None:
            self._table = table(sequence([lk.n for lk in self.looks], self.schedule), self.n_max, self.spending)
        return self._table

    def p(self, name: str) -> float:
        if name not in self.t or not self.looks:
            return math.nan
        if name not in self._p:
            self._p[name] = self.table.repeated_p(self.t[name])
        return self._p[name]

    def p_le(self, name: str, level: float) -> bool:
        return name in self.t and bool(self.looks) and self.table.crossed(self.t[name], level)

    def has(self, name: str) -> bool:
        return name in self.t

    def critical(self, level: float = INTERVAL_LEVEL) -> float:
        """The t-scale critical value of the last look at ``level``."""
        return self.table.at(level)[len(self.looks) - 1]

    def interval(self) -> tuple[float, float]:
        """The repeated 95% confidence interval at the last look (0.025 spent on each side): the
        interval that agrees with the sequential verdict."""
        if not self.looks:
            return math.nan, math.nan
        lk = self.looks[-1]
        half = 0.0 if lk.sd == 0 else self.critical() * lk.sd / math.sqrt(lk.n)
        return lk.mean - half, lk.mean + half

    def interval_below_smallest(self) -> bool:
        """The repeated interval printed at the last look lies wholly below the smallest effect."""
        if "small" not in self.t or not self.looks:
            return False
        t = self.t["small"][-1]
        return t == t and t >= self.critical()
