"""Claim kinds tested paired over seeds: superiority, non-inferiority, equivalence band, ratio.

Why paired: every method of a track runs on the same seeds (same init, data order and sample),
so the difference of two methods is tested seed by seed, as the leaderboards do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness.claims.core import (
    INCONCLUSIVE,
    NA,
    NOT_REPRODUCED,
    REPRODUCED,
    Claim,
    ClaimResult,
    direction_verdict,
    equivalence_verdict,
    fmt,
)
from harness.claims.select import datasets, ok_by_seed, rows_for
from harness.stats import paired_test, summarize


def paired_better(
    a: str, b: str, metric: str, dataset: str | None = None, published: str | None = None, text: str | None = None
) -> Claim:
    """Method ``a`` beats ``b`` on ``metric`` (direction from the track's Metric), paired over seeds."""
    text = text or f"{a} beats {b} on {metric}"

    def check(table: Any, track: Any) -> list[ClaimResult]:
        higher = track.metric(metric).higher_is_better
        out = []
        for ds in datasets(table, dataset):
            t = table[table["dataset"] == ds]
            ra, rb = rows_for(t, a), rows_for(t, b)
            if not len(ra) or not len(rb):
                continue  # this dataset does not run both methods
            failed = int((ra["status"] != "ok").sum() + (rb["status"] != "ok").sum())
            va, vb = ok_by_seed(ra, metric), ok_by_seed(rb, metric)
            pr = paired_test(va, vb)
            if pr.n == 0:
                out.append(ClaimResult(text, published or "", "no paired results", NA, ds))
                continue
            sa, sb = summarize(list(va.values())), summarize(list(vb.values()))
            right = pr.delta > 0 if higher else pr.delta < 0
            ours = (
                f"{fmt(sb.mean)} -> {fmt(sa.mean)} (delta {fmt(pr.delta)} [{fmt(pr.ci_lo)}, {fmt(pr.ci_hi)}], "
                f"p={fmt(pr.p)}, n={pr.n})"
            )
            if failed:
                ours += f"; {failed} cell(s) not ok excluded"
            out.append(ClaimResult(text, published or "", ours, direction_verdict(right, pr.p), ds))
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)


better = paired_better


def _values(table: Any, method: str, metric: str, dataset: str) -> tuple[dict[int, float], int]:
    """``metric`` by seed for ``method`` on ``dataset`` (ok cells), and how many cells were not ok."""
    rows = rows_for(table[table["dataset"] == dataset], method)
    return ok_by_seed(rows, metric), int((rows["status"] != "ok").sum())


def _pairs(table: Any, a: str, b: str, metric: str, dataset: str) -> tuple[dict[int, float], dict[int, float], int]:
    """``_values`` of methods ``a`` and ``b``, with their not-ok cells counted together."""
    (va, fa), (vb, fb) = _values(table, a, metric, dataset), _values(table, b, metric, dataset)
    return va, vb, fa + fb


def per_dataset(text: str, published: str | None, row: Callable[[Any, str], ClaimResult]) -> Claim:
    """A claim checked separately on each dataset of the table: ``row(table, dataset)`` gives the
    ClaimResult of one dataset; an empty table gives one "no results" row."""

    def check(table: Any, track_obj: Any) -> list[ClaimResult]:
        if not len(table):
            return [ClaimResult(text, published or "", "no results", NA)]
        return [row(table, ds) for ds in sorted(set(table["dataset"]))]

    return Claim(text, check, published)


def _ratio_verdict(text: str, published: str | None, ds: str, logs: dict[int, float], failed: int) -> ClaimResult:
    """One claim row from per-seed log ratios: the geometric mean with a 95% CI, and a t-test of
    the logs against 0 (reproduced when the ratio is significantly above 1)."""
    if not logs:
        return ClaimResult(text, published or "", "no paired results", NA, ds)
    pr = paired_test(logs, {s: 0.0 for s in logs})
    ours = f"{math.exp(pr.delta):.3f}x"  # geometric mean of the per-seed ratios
    if pr.n > 1:
        ours += f" [{math.exp(pr.ci_lo):.3f}, {math.exp(pr.ci_hi):.3f}] (p={pr.p:.3g}, n={pr.n})"
    if failed:
        ours += f"; {failed} cell(s) not ok excluded"
    return ClaimResult(text, published or "", ours, direction_verdict(pr.delta > 0, pr.p), ds)


def ratio_claim(
    a: str, b: str, metric: str, text: str, published: str | None = None, lower_is_better: bool = False
) -> Claim:
    """``a`` improves ``metric`` over ``b``; ours = the geometric mean of the per-seed ratios (b/a
    when lower is better, else a/b) with a 95% CI; verdict from a t-test of the log ratios."""

    def row(table: Any, ds: str) -> ClaimResult:
        va, vb, failed = _pairs(table, a, b, metric, ds)
        num, den = (vb, va) if lower_is_better else (va, vb)
        logs = {s: math.log(num[s] / den[s]) for s in sorted(set(va) & set(vb)) if va[s] > 0 and vb[s] > 0}
        return _ratio_verdict(text, published, ds, logs, failed)

    return per_dataset(text, published, row)


def speedup_claim(a: str, metric: str, text: str, published: str | None = None) -> Claim:
    """``metric`` of method ``a`` is a ratio measured inside each cell (e.g. the char twin's time
    over the cell's own); the claim is that it exceeds 1, tested over seeds like ``ratio_claim``."""

    def row(table: Any, ds: str) -> ClaimResult:
        va, failed = _values(table, a, metric, ds)
        return _ratio_verdict(text, published, ds, {s: math.log(v) for s, v in va.items() if v > 0}, failed)

    return per_dataset(text, published, row)


def noninferior(a: str, b: str, metric: str, margin: float, text: str, published: str | None = None) -> Claim:
    """``a`` is not worse than ``b`` by more than ``margin`` (higher is better): reproduced when the
    95% CI of the paired difference lies above -margin, not reproduced when it lies below."""

    def row(table: Any, ds: str) -> ClaimResult:
        va, vb, failed = _pairs(table, a, b, metric, ds)
        pr = paired_test(va, vb)
        if pr.n < 2:
            return ClaimResult(text, published or "", f"too few paired results (n={pr.n})", NA, ds)
        ours = (
            f"{sum(vb.values()) / len(vb):.4f} -> {sum(va.values()) / len(va):.4f} "
            f"(delta {pr.delta:+.4f} [{pr.ci_lo:+.4f}, {pr.ci_hi:+.4f}], n={pr.n})"
        )
        if failed:
            ours += f"; {failed} cell(s) not ok excluded"
        if pr.ci_lo > -margin:
            verdict = REPRODUCED
        elif pr.ci_hi < -margin:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        return ClaimResult(text, published or "", ours, verdict, ds)

    return per_dataset(text, published, row)


def close_to(a: str, b: str, metric: str, slack: float, text: str, published: str) -> Claim:
    """Methods ``a`` and ``b`` are about equal on ``metric``.

    Reproduced when the 95% CI of the paired difference lies inside [-slack, slack]; not
    reproduced when the mean difference is outside it and significant (p < 0.05); inconclusive
    otherwise (too few seeds to tell).
    """

    def check(table: Any, track: Any) -> list[ClaimResult]:
        col, out = f"m.{metric}", []
        for ds in datasets(table):
            t = table[(table["dataset"] == ds) & (table["status"] == "ok")]
            if col not in t:
                continue
            seeds = []
            for sel in (a, b):
                rows = rows_for(t, sel)
                seeds.append(dict(zip(rows["seed"].astype(int), rows[col].astype(float))))
            pr = paired_test(seeds[0], seeds[1])
            if pr.n == 0:
                continue
            ours = f"{a} - {b} = {pr.delta:+.4f} [{pr.ci_lo:.4f}, {pr.ci_hi:.4f}] (p={pr.p:.3g}, n={pr.n})"
            lo, hi = (pr.ci_lo, pr.ci_hi) if pr.ci_lo == pr.ci_lo else (pr.delta, pr.delta)
            verdict = equivalence_verdict(-slack <= lo and hi <= slack, pr.p)
            out.append(ClaimResult(text, published, ours, verdict, ds))
        return out or [ClaimResult(text, published, "no paired results", NA)]

    return Claim(text, check, published)


def best_valid_selector(table: Any, method_name: str, dataset: str, select: str = "valid_accuracy") -> str | None:
    """The selector (grid point) of ``method_name`` with the highest mean ``select`` on ``dataset``.

    Only grid points whose cells all finished ``ok`` compete (a coefficient that diverges on some
    seed is not a usable choice). Test metrics play no part in the choice.
    """
    if not len(table) or f"m.{select}" not in table:
        return None
    t = table[(table["dataset"] == dataset) & (table["method_name"] == method_name)]
    best, best_score = None, -math.inf
    for label, rows in t.groupby("method"):
        if (rows["status"] != "ok").any():
            continue
        score = float(rows[f"m.{select}"].mean())
        if score > best_score:
            best, best_score = str(label), score
    return best


def tuned_better(
    a: str, b: str, metric: str, published: str | None = None, text: str | None = None, select: str = "valid_accuracy"
) -> Claim:
    """Claim: method ``a`` beats ``b`` on ``metric``, each at its best-``select`` grid point per
    dataset, paired over seeds (the engine's paired test on the two chosen selectors)."""
    text = text or f"{a} beats {b} on {metric} (best-{select} coefficients)"

    def check(table: Any, trk: Any) -> list[ClaimResult]:
        out: list[ClaimResult] = []
        for ds in datasets(table):
            sa, sb = best_valid_selector(table, a, ds, select), best_valid_selector(table, b, ds, select)
            if sa is None or sb is None:
                continue
            rows = paired_better(sa, sb, metric, dataset=ds, published=published, text=text).check(table, trk)
            for r in rows:
                r.ours = f"{sa} vs {sb}: {r.ours}"
            out += rows
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)
