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
