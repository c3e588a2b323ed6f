"""Claims tested over test examples instead of seeds: above chance, and one proportion above another.

Why: a method that trains nothing (zero-shot PET) gives the same accuracy on every seed, so a
paired test over seeds has no variance to work with. The unit of evidence is then the test text:
a binomial test against chance, and a two-proportion z-test between two methods (unpaired, hence
conservative when both see the same texts).
"""

from __future__ import annotations

import math
from typing import Any

from harness.claims.core import NA, Claim, ClaimResult, direction_verdict
from harness.claims.select import datasets, rows_for


def mean_and_n(rows: Any, metric: str, n_column: str = "m.test_texts") -> tuple[float, int, int]:
    """Mean metric over ok seeds, test examples per cell (``n_column``), and the number of ok cells."""
    ok = rows[rows["status"] == "ok"]
    col = f"m.{metric}"
    if not len(ok) or col not in ok:
        return math.nan, 0, 0
    vals = [float(v) for v in ok[col] if not math.isnan(float(v))]
    n = int(ok[n_column].iloc[0]) if n_column in ok else 0
    return (sum(vals) / len(vals) if vals else math.nan), n, len(vals)


def p_two_sided(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def above_chance(selector: str, metric: str, chance: float, text: str, published: str = "") -> Claim:
    """``selector``'s accuracy is above ``chance``: normal approximation of the binomial test over
    the n test texts (accuracy = mean over seeds)."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        out = []
        for ds in datasets(table):
            acc, n, cells = mean_and_n(rows_for(table[table["dataset"] == ds], selector), metric)
            if not cells or n == 0:
                continue
            z = (acc - chance) / math.sqrt(chance * (1 - chance) / n)
            p = p_two_sided(z)
            ours = f"{acc:.4f} vs chance {chance:g} (n={n} test texts, z={z:+.1f}, p={p:.3g})"
            out.append(ClaimResult(text, published, ours, direction_verdict(acc > chance, p), ds))
        return out or [ClaimResult(text, published, "no results", NA)]

    return Claim(text, check, published)


def proportions_better(a: str, b: str, metric: str, text: str, published: str = "") -> Claim:
    """``a``'s accuracy beats ``b``'s: two-proportion z-test over the test texts."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        out = []
        for ds in datasets(table):
            t = table[table["dataset"] == ds]
            pa, na, ca = mean_and_n(rows_for(t, a), metric)
            pb, nb, cb = mean_and_n(rows_for(t, b), metric)
            if not ca or not cb or not na or not nb:
                continue
            pool = (pa * na + pb * nb) / (na + nb)
            se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / na + 1 / nb))
            z = (pa - pb) / se
            p = p_two_sided(z)
            ours = f"{pb:.4f} -> {pa:.4f} (delta {pa - pb:+.4f}, z={z:+.1f}, p={p:.3g}, n={na} test texts)"
            out.append(ClaimResult(text, published, ours, direction_verdict(pa > pb, p), ds))
        return out or [ClaimResult(text, published, "no results", NA)]

    return Claim(text, check, published)
