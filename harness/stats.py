"""Statistics over seeds: mean, std, 95% CI, paired tests against the baseline, Holm and
Benjamini-Yekutieli corrections.

Every method runs on the same seeds (same init and data order per seed), so differences are
tested pairwise over the shared seeds: far more power than comparing two independent means.
The tests and corrections are scipy's and statsmodels' (``ttest_1samp``, ``multipletests``); this
module only handles what they do not: NaNs, too few values and zero spread.
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
        import warnings

        from scipy.stats import ttest_1samp

        with warnings.catch_warnings():  # near-constant differences: scipy warns, the p-value stays right
            warnings.simplefilter("ignore", RuntimeWarning)
            p = float(ttest_1samp(diffs, 0.0).pvalue)
    return Paired(n, s.mean, s.ci_lo, s.ci_hi, p)


def _adjusted(pvalues: Sequence[float], method: str) -> list[float]:
    """statsmodels' ``multipletests`` adjusted p-values; NaNs pass through and do not count as tests."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    adjusted = [math.nan] * len(pvalues)
    if not idx:
        return adjusted
    from statsmodels.stats.multitest import multipletests

    corrected = multipletests([float(pvalues[i]) for i in idx], alpha=0.05, method=method)[1]
    for i, q in zip(idx, corrected):
        adjusted[i] = float(q)
    return adjusted


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (``multipletests(method="holm")``; NaNs pass through)."""
    return _adjusted(pvalues, "holm")


def by_qvalues(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Yekutieli q-values (``multipletests(method="fdr_by")``; NaNs pass through): rejecting
    every p-value with q <= a keeps the false discovery rate at or below a under any dependence
    between the tests (Benjamini & Yekutieli 2001, Ann. Statist. 29:1165, Theorem 1.3)."""
    return _adjusted(pvalues, "fdr_by")


def spearman(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Spearman rank correlation and its p-value (nan when undefined)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan, math.nan
    from scipy.stats import spearmanr

    res = spearmanr(xs, ys)
    return float(res.statistic), float(res.pvalue)
