"""What a claim row tests: its per-seed paired values, its thresholds, and the one-sided tests they imply.

Why one representation: every seed-paired kind (superiority, trend, ratio, non-inferiority,
equivalence) reduces a row to one number per seed, oriented so that positive values support the
claim (a - b with the metric's direction, a per-seed change across a grid, a log ratio against
the claimed value). The verdict rule, the power planner and the sequential design then work on
that one shape, whatever the claim kind.

Every test is one-sided at 0.025, so a verdict agrees with the two-sided 95% interval the tables
print: a single-row claim is reproduced exactly when its interval lies on the claimed side of the
null (or above -margin, or inside the band), and "smaller than the smallest effect" exactly when
the interval's upper end lies below that effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.errors import HarnessError

SEED_KINDS = ("superiority", "trend", "ratio", "non-inferiority", "equivalence")
DIRECTIONAL = ("superiority", "trend", "ratio")


@dataclass(frozen=True)
class SmallestEffect:
    """The smallest effect of interest, in the metric's units (oriented: always positive), and why.

    Declared with the claim before the seeds that test it are run, and never larger than the
    published effect where there is one: a row whose effect is significantly smaller than this
    reads "not reproduced (smaller than the smallest effect of interest)"."""

    value: float
    reason: str

    def __post_init__(self) -> None:
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise HarnessError(f"smallest_effect must be a positive number, got {self.value!r}")
        if not str(self.reason).strip():
            raise HarnessError(f"smallest_effect {self.value:g} needs a one-line reason")


@dataclass(frozen=True)
class OneSided:
    """H1: mean > null (``sign`` +1) or mean < null (``sign`` -1)."""

    name: str
    null: float
    sign: int


@dataclass
class RowSample:
    """One number per seed for one claim row, positive = supports the claim (equivalence: a - b).

    ``keys``: the run keys of every cell behind the values (all seeds): the cells ``--decide``
    repeats with new seeds and whose measured times ``harness plan`` prices."""

    values: dict[int, float]
    kind: str
    smallest_effect: float = math.nan
    margin: float = math.nan
    band: float = math.nan
    keys: tuple[str, ...] = ()
    units: str = ""
    # the test-set share of the variance of the mean (metric units squared; NaN when the cells have no
    # per-example predictions): what another draw of test examples would move it by, which seeds cannot
    test_var: float = math.nan
    # computed from ``values`` once (the values of a sample never change): n, mean and sd
    n: int = field(init=False, default=0)
    mean: float = field(init=False, default=math.nan)
    sd: float = field(init=False, default=math.nan)

    def __post_init__(self) -> None:
        self.values = {int(s): float(v) for s, v in self.values.items() if not math.isnan(float(v))}
        vals = list(self.values.values())
        self.n = len(vals)
        self.mean = sum(vals) / self.n if self.n else math.nan
        self.sd = math.sqrt(sum((v - self.mean) ** 2 for v in vals) / (self.n - 1)) if self.n > 1 else math.nan

    def first(self, n: int) -> RowSample:
        """The sample of the first ``n`` seeds (in seed order): what a look at n seeds saw."""
        seeds = sorted(self.values)[:n]
        return RowSample({s: self.values[s] for s in seeds}, self.kind, self.smallest_effect, self.margin, self.band)

    def tests(self) -> list[OneSided]:
        """The one-sided tests of this row's kind (each at 0.025)."""
        if self.kind in DIRECTIONAL:
            out = [OneSided("up", 0.0, 1), OneSided("down", 0.0, -1)]
            if not math.isnan(self.smallest_effect):
                out.append(OneSided("small", self.smallest_effect, -1))
            return out
        if self.kind == "non-inferiority":
            return [OneSided("above", -self.margin, 1), OneSided("below", -self.margin, -1)]
        if self.kind == "equivalence":
            b = self.band
            return [OneSided("lo", -b, 1), OneSided("hi", b, -1), OneSided("out_hi", b, 1), OneSided("out_lo", -b, -1)]
        raise HarnessError(f"claim kind {self.kind!r} has no seed-paired tests")

    def t_stat(self, test: OneSided, n: int | None = None, mean: float | None = None, sd: float | None = None) -> float:
        """t of ``test`` from this sample (or from the given n, mean and sd of an earlier look).

        Zero spread: +-inf strictly off the null, 0 on it (no evidence either way)."""
        n = self.n if n is None else n
        mean = self.mean if mean is None else mean
        sd = self.sd if sd is None else sd
        if n < 2 or math.isnan(mean) or math.isnan(sd):
            return math.nan
        diff = test.sign * (mean - test.null)
        if sd == 0:
            return 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return diff / (sd / math.sqrt(n))

    def p_fixed(self, test: OneSided) -> float:
        """One-sided p-value of ``test`` at this sample's n: ``scipy.stats.ttest_1samp`` (n - 1 df).

        Zero spread, where the t statistic is undefined: 0 strictly on the tested side, 1 strictly
        off it, 0.5 exactly on the null (no evidence either way)."""
        import warnings

        from scipy import stats

        t = self.t_stat(test)
        if math.isnan(t):
            return math.nan
        if math.isinf(t) or self.sd == 0:
            return 0.0 if t > 0 else 1.0 if t < 0 else 0.5
        side = "greater" if test.sign > 0 else "less"
        with warnings.catch_warnings():  # near-constant values: scipy warns, the p-value stays right
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_1samp(list(self.values.values()), test.null, alternative=side)
        return float(res.pvalue)

    @property
    def seed_var(self) -> float:
        """The seed share: the variance of the mean over seeds (sd^2 / n)."""
        return self.sd**2 / self.n if self.n > 1 else math.nan

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided t interval of the mean (NaN below two seeds; a point when the spread is zero)."""
        if self.n < 2:
            return math.nan, math.nan
        from scipy import special

        half = float(special.stdtrit(self.n - 1, 0.5 + level / 2)) * self.sd / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    def thresholds(self) -> tuple[float, ...]:
        """Reference lines for a forest plot: 0 and the smallest effect, -margin, or +-band."""
        if self.kind in DIRECTIONAL:
            return (0.0,) if math.isnan(self.smallest_effect) else (0.0, self.smallest_effect)
        if self.kind == "non-inferiority":
            return (0.0, -self.margin)
        return (-self.band, 0.0, self.band)

    def planning_effect(self) -> tuple[float, str]:
        """The distance a decision must resolve and what it is: the smallest effect, the margin or the band.

        Ratio rows declare none: they are planned at the observed effect."""
        if self.kind == "non-inferiority":
            return self.margin, "margin"
        if self.kind == "equivalence":
            return self.band, "band"
        if not math.isnan(self.smallest_effect):
            return self.smallest_effect, "smallest effect"
        return abs(self.mean), "observed effect"
