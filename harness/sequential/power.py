"""How many seeds a claim row needs to be decided: power of its tests at n seeds, and the n for 80%.

Why the sd's upper confidence bound: a pilot of 3-5 seeds estimates the seed-to-seed spread
badly (Colas et al. 2018), and a lucky small estimate would under-plan; planning at the upper 80%
bound of the sd errs toward enough seeds. Why alpha / (undecided rows): Holm's first step tests
the smallest p-value at alpha/m, the worst case a row may face. The effect to resolve is the
row's smallest effect of interest (superiority, trend), margin (non-inferiority) or band
(equivalence), with no true difference assumed for the margin and the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from harness.claims.sample import RowSample

POWER = 0.8
SD_CONFIDENCE = 0.8
MAX_PLANNED = 10_000


def sd_upper(sd: float, n: int, confidence: float = SD_CONFIDENCE) -> float:
    """One-sided upper ``confidence`` bound of a normal sd estimated from ``n`` values (chi-square)."""
    if n < 2 or math.isnan(sd):
        return math.nan
    return sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - confidence, n - 1))


def power_at(n: int, effect: float, sd: float, alpha: float, kind: str) -> float:
    """Power of the row's deciding test(s) with ``n`` seeds, a true difference ``effect`` away from the
    null and seed sd ``sd``: two-sided t at ``alpha`` (superiority, trend, ratio), one-sided t at
    alpha/2 (non-inferiority), TOST with each side at alpha/2 and no true difference (equivalence)."""
    if n < 2 or not sd > 0:
        return math.nan if n < 2 else 1.0
    df, ncp = n - 1, effect / (sd / math.sqrt(n))
    if kind == "equivalence":
        crit = stats.t.ppf(1 - alpha / 2, df)
        return max(0.0, float(2 * stats.nct.sf(crit, df, ncp) - 1))  # both one-sided tests reject
    if kind == "non-inferiority":
        return float(stats.nct.sf(stats.t.ppf(1 - alpha / 2, df), df, ncp))
    from statsmodels.stats.power import TTestPower

    return float(TTestPower().power(effect_size=effect / sd, nobs=n, alpha=alpha, alternative="two-sided"))


def seeds_for_power(effect: float, sd: float, alpha: float, kind: str, power: float = POWER) -> int | None:
    """Smallest n (>= 2) with ``power_at(n, ...) >= power``; None when even MAX_PLANNED seeds fall short."""
    if not sd > 0:
        return 2
    if kind in ("superiority", "trend", "ratio"):  # statsmodels solves the t power equation directly
        from statsmodels.stats.power import TTestPower

        try:
            n = TTestPower().solve_power(effect_size=effect / sd, alpha=alpha, power=power, alternative="two-sided")
            n = max(2, math.ceil(float(n) - 1e-9))
            return n if n <= MAX_PLANNED else None
        except (ValueError, RuntimeError):
            pass
    lo, hi = 2, 4
    while power_at(hi, effect, sd, alpha, kind) < power:
        lo, hi = hi, hi * 2
        if hi > MAX_PLANNED:
            return None
    while lo < hi:  # power grows with n: bisect for the smallest n that reaches it
        mid = (lo + hi) // 2
        if power_at(mid, effect, sd, alpha, kind) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Need:
    """What deciding one row takes."""

    effect: float
    effect_kind: str
    alpha: float
    sd_planned: float
    power_now: float
    seeds_to_decide: int | None
    reason: str = ""


def need(sample: RowSample, undecided_in_claim: int, alpha: float = 0.05) -> Need:
    """Seeds needed to decide ``sample``'s row with 80% power (None with a reason when seeds cannot)."""
    effect, effect_kind = sample.planning_effect()
    a = alpha / max(1, undecided_in_claim)
    if sample.n < 2 or math.isnan(sample.sd):
        return Need(effect, effect_kind, a, math.nan, math.nan, None, "fewer than 2 seeds: no spread to plan from")
    if sample.sd == 0:
        return Need(effect, effect_kind, a, 0.0, 1.0, None, "deterministic: every seed gives the same value")
    if not effect > 0:
        return Need(effect, effect_kind, a, math.nan, math.nan, None, "no effect to plan for (observed effect is 0)")
    sd_plan = sd_upper(sample.sd, sample.n)
    now = power_at(sample.n, effect, sample.sd, a, sample.kind)
    needed_se = target_se(effect, a, sample.kind)
    if sample.test_var == sample.test_var and math.sqrt(sample.test_var) >= needed_se:
        test_se = math.sqrt(sample.test_var)
        reason = f"more test data, not seeds: the test set alone gives a standard error of {test_se:.3g}, "
        reason += f"a decision needs below {needed_se:.3g}"
        return Need(effect, effect_kind, a, sd_plan, now, None, reason)
    n = seeds_for_power(effect, sd_plan, a, sample.kind)
    reason = "" if n is not None else f"more than {MAX_PLANNED} seeds"
    return Need(effect, effect_kind, a, sd_plan, now, n, reason)


def target_se(effect: float, alpha: float, kind: str, power: float = POWER) -> float:
    """The standard error of the row's mean at which its test has ``power`` (normal approximation):
    a test-set share of the variance above its square cannot be averaged away by seeds."""
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    z_beta = stats.norm.ppf(power if kind != "equivalence" else (1 + power) / 2)
    return effect / (z_alpha + z_beta)
