"""Claim checks and the K-vs-accuracy figure of the fewshot track.

Why not only ``paired_better``: zero-shot PET trains nothing, so every seed gives the same
accuracy and a paired test over seeds has no variance to work with. For those claims the unit of
evidence is the test text: a binomial test against chance, and a two-proportion z-test between
patterns (unpaired, hence conservative: the two patterns see the same texts).
"""

from __future__ import annotations

import math
from typing import Any

from harness.claims import NA, Claim, ClaimResult, direction_verdict, paired_better, rows_for
from harness.tracks.fewshot.constants import (
    SU_FT_PREFIX_SUFFIX,
    SU_PET_HEAD,
    SU_PREFIX_SUFFIX,
    SU_SEMI,
    SU_ZERO_P1,
    TINY,
)


def _rows(table: Any, selector: str) -> Any:
    return rows_for(table, selector)


def _mean_and_n(rows: Any, metric: str) -> tuple[float, int, int]:
    """Mean metric over ok seeds, test texts per cell, and the number of ok cells."""
    ok = rows[rows["status"] == "ok"]
    col = f"m.{metric}"
    if not len(ok) or col not in ok:
        return math.nan, 0, 0
    vals = [float(v) for v in ok[col] if not math.isnan(float(v))]
    n = int(ok["m.test_texts"].iloc[0]) if "m.test_texts" in ok else 0
    return (sum(vals) / len(vals) if vals else math.nan), n, len(vals)


def _p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def above_chance(selector: str, metric: str, chance: float, text: str, published: str = "") -> Claim:
    """``selector``'s accuracy is above ``chance``: normal approximation of the binomial test over
    the n test texts (accuracy = mean over seeds)."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        out = []
        for ds in sorted(set(table["dataset"])) if len(table) else []:
            acc, n, cells = _mean_and_n(_rows(table[table["dataset"] == ds], selector), metric)
            if not cells or n == 0:
                continue
            z = (acc - chance) / math.sqrt(chance * (1 - chance) / n)
            p = _p_two_sided(z)
            ours = f"{acc:.4f} vs chance {chance:g} (n={n} test texts, z={z:+.1f}, p={p:.3g})"
            out.append(ClaimResult(text, published, ours, direction_verdict(acc > chance, p), ds))
        return out or [ClaimResult(text, published, "no results", NA)]

    return Claim(text, check, published)


def proportions_better(a: str, b: str, metric: str, text: str, published: str = "") -> Claim:
    """``a``'s accuracy beats ``b``'s: two-proportion z-test over the test texts."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        out = []
        for ds in sorted(set(table["dataset"])) if len(table) else []:
            t = table[table["dataset"] == ds]
            pa, na, ca = _mean_and_n(_rows(t, a), metric)
            pb, nb, cb = _mean_and_n(_rows(t, b), metric)
            if not ca or not cb or not na or not nb:
                continue
            pool = (pa * na + pb * nb) / (na + nb)
            se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / na + 1 / nb))
            z = (pa - pb) / se
            p = _p_two_sided(z)
            ours = f"{pb:.4f} -> {pa:.4f} (delta {pa - pb:+.4f}, z={z:+.1f}, p={p:.3g}, n={na} test texts)"
            out.append(ClaimResult(text, published, ours, direction_verdict(pa > pb, p), ds))
        return out or [ClaimResult(text, published, "no results", NA)]

    return Claim(text, check, published)


def track_claims() -> list[Claim]:
    """Su's PET claims (kexue.fm 7764) as the fewshot track checks them."""
    return [
        above_chance(
            "pet-zero",
            "test_accuracy",
            0.5,
            text="a prefix pattern (P1) classifies with zero labels well above chance." + TINY,
            published=SU_ZERO_P1,
        ),
        proportions_better(
            "pet-zero",
            "pet-zero[pattern=p2]",
            "test_accuracy",
            text="zero-shot, the prefix pattern P1 beats the suffix pattern P2",
            published=SU_PREFIX_SUFFIX,
        ),
        paired_better(
            "pet",
            "head-finetune",
            "test_accuracy",
            text="pattern fine-tuning (PET, P1) beats a fine-tuned [CLS] head with few labels." + TINY,
            published=SU_PET_HEAD,
        ),
        paired_better(
            "pet-semi",
            "pet",
            "test_accuracy",
            text="adding the MLM loss on unlabelled train texts (semi-supervised) beats PET alone",
            published=SU_SEMI,
        ),
        paired_better(
            "pet",
            "pet[pattern=p2]",
            "test_accuracy",
            text="after few-shot fine-tuning the prefix pattern P1 still beats the suffix P2",
            published=SU_FT_PREFIX_SUFFIX,
        ),
        paired_better(
            "full", "pet", "test_accuracy", text="all labels (the supervised ceiling) beat PET with K labels"
        ),
    ]
