"""Statistics over seeds: mean, std, 95% CI, paired tests against the baseline, Holm correction.

Every method runs on the same seeds (same init and data order per seed), so differences are
tested pairwise over the shared seeds: far more power than comparing two independent means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Summary:
    n: int
    mean: float
    std: float
    ci_lo: float
    ci_hi: float


@dataclass
class Paired:
    n: int
    delta: float  # mean of a - b over shared seeds
    ci_lo: float
    ci_hi: float
    p: float  # two-sided paired t-test; nan when n < 2


def _t_crit(df: int, level: float = 0.95) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample std and a t-based 95% CI (NaN bounds when fewer than two values)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(vals) / n
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = _t_crit(n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def paired_test(a: dict[int, float], b: dict[int, float]) -> Paired:
    """Paired difference a - b over the seeds both have: mean delta, 95% CI and t-test p-value."""
    seeds = sorted(set(a) & set(b))
    diffs = [float(a[s]) - float(b[s]) for s in seeds]
    diffs = [d for d in diffs if not math.isnan(d)]
    n = len(diffs)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan)
    s = summarize(diffs)
    if n < 2:
        return Paired(n, s.mean, math.nan, math.nan, math.nan)
    if s.std == 0:
        p = 0.0 if s.mean != 0 else 1.0
    else:
        from scipy.stats import t

        tstat = s.mean / (s.std / math.sqrt(n))
        p = float(2 * t.sf(abs(tstat), n - 1))
    return Paired(n, s.mean, s.ci_lo, s.ci_hi, p)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaNs pass through and do not count as tests)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    m = len(idx)
    order = sorted(idx, key=lambda i: pvalues[i])
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def spearman(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Spearman rank correlation and its p-value (nan when undefined)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan, math.nan
    from scipy.stats import spearmanr

    res = spearmanr(xs, ys)
    return float(res.statistic), float(res.pvalue)


@dataclass
class SideTest:
    """A test of which side of ``threshold`` a paired mean difference lies on.

    ``above`` says the estimate lies above the threshold; ``p`` is the one-sided p-value of the
    test whose alternative is that side (so a small p means "significantly on that side").
    """

    n: int
    delta: float
    ci_lo: float
    ci_hi: float
    above: bool
    p: float


def side_of(a: dict[int, float], b: dict[int, float], threshold: float) -> SideTest:
    """One-sided paired t-test of mean(a - b) against ``threshold``, toward the side the mean is on.

    Used for non-inferiority (threshold = -margin: is a - b significantly above -margin, or
    significantly below it?) and for each half of an equivalence band. n < 2 gives p = NaN; zero
    spread gives p = 0 strictly off the threshold and 1 on it.
    """
    pr = paired_test(a, b)
    if pr.n < 2 or math.isnan(pr.delta):
        return SideTest(pr.n, pr.delta, pr.ci_lo, pr.ci_hi, bool(pr.delta > threshold), math.nan)
    seeds = sorted(set(a) & set(b))
    diffs = [float(a[s]) - float(b[s]) for s in seeds if not math.isnan(float(a[s]) - float(b[s]))]
    std = summarize(diffs).std
    above = pr.delta > threshold
    if std == 0:
        p = 0.0 if pr.delta != threshold else 1.0
    else:
        from scipy.stats import t

        tstat = (pr.delta - threshold) / (std / math.sqrt(pr.n))
        p = float(t.sf(abs(tstat), pr.n - 1))
    return SideTest(pr.n, pr.delta, pr.ci_lo, pr.ci_hi, bool(above), p)


def band_test(a: dict[int, float], b: dict[int, float], band: float) -> SideTest:
    """Equivalence of a and b within ``[-band, band]``, paired over seeds.

    Inside the band (``above`` = True here means "inside"): p is the TOST p-value, the larger of
    the two one-sided p-values against -band and +band. Outside: p is the one-sided p-value that
    the difference lies beyond the nearer edge.
    """
    lo, hi = side_of(a, b, -band), side_of(a, b, band)
    if lo.n < 2 or math.isnan(lo.p):
        inside = bool(-band < lo.delta < band) if lo.n else False
        return SideTest(lo.n, lo.delta, lo.ci_lo, lo.ci_hi, inside, math.nan)
    if -band < lo.delta < band:
        return SideTest(lo.n, lo.delta, lo.ci_lo, lo.ci_hi, True, max(lo.p, hi.p))
    edge = hi if lo.delta >= band else lo
    return SideTest(lo.n, lo.delta, lo.ci_lo, lo.ci_hi, False, edge.p)
