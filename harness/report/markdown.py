"""Markdown and CSV renderings of leaderboards and claims (tabulate, GitHub format)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.claims import ClaimResult
from harness.report.leaderboard import Row


def fmt(x: float, spec: str = ".4f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def leaderboard_records(rows: Sequence[Row], track_cls: Any) -> list[dict[str, Any]]:
    """Flat records (one per dataset x method) for the CSV leaderboard."""
    out = []
    for r in rows:
        rec = {
            "track": track_cls.name,
            "dataset": r.dataset,
            "method": r.method,
            "baseline": r.is_baseline,
            "rank": r.rank,
            "metric": track_cls.primary,
            "mean": r.mean,
            "std": r.std,
            "ci95_lo": r.ci_lo,
            "ci95_hi": r.ci_hi,
            "n_ok": r.n_ok,
            "n_total": r.n_total,
            "status": r.status_note,
            "delta_vs_baseline": r.delta,
            "delta_ci95_lo": r.delta_lo,
            "delta_ci95_hi": r.delta_hi,
            "delta_examples": r.delta_examples,
            "delta_note": r.delta_note,
            "p": r.p,
            "p_holm": r.p_holm,
            "significant": r.significant,
        }
        for k, v in r.secondary.items():
            rec[f"mean_{k}"] = v
        out.append(rec)
    return out


def leaderboard_cells(rows: Sequence[Row], track_cls: Any) -> tuple[list[str], list[tuple[str, list[list[Any]]]]]:
    """Headers and, per dataset, the formatted leaderboard cells (shared by Markdown and HTML)."""
    m = track_cls.metric(track_cls.primary)
    spec = m.fmt
    base = next((r.method for r in rows if r.is_baseline), "baseline")
    headers = ["rank", "method", m.label or m.name, "95% CI", f"Δ vs {base}", "p (Holm)", "runs"]
    headers += [track_cls.metric(s).label or s for s in track_cls.secondary]
    tables = []
    for ds in sorted({r.dataset for r in rows}):
        table = []
        for r in (r for r in rows if r.dataset == ds):
            if r.is_baseline:
                delta = "baseline"
            elif r.delta_note and math.isnan(r.delta):
                delta = f"no Δ: {r.delta_note}"
            else:
                delta = f"{fmt(r.delta, '+' + spec)} [{fmt(r.delta_lo, spec)}, {fmt(r.delta_hi, spec)}]"
                delta += " *" if r.significant else ""
                delta += f" ({r.delta_examples} shared examples)" if r.delta_examples else ""
            row = [
                r.rank or "-",
                r.method,
                f"{fmt(r.mean, spec)} ± {fmt(r.std, spec)}" if r.n_ok else "no ok run",
                f"[{fmt(r.ci_lo, spec)}, {fmt(r.ci_hi, spec)}]",
                delta,
                fmt(r.p_holm, ".3g"),
                r.status_note,
            ]
            row += [fmt(r.secondary.get(sec, math.nan), track_cls.metric(sec).fmt) for sec in track_cls.secondary]
            table.append(row)
        tables.append((ds, table))
    return headers, tables


def leaderboard_markdown(rows: Sequence[Row], track_cls: Any, heading_level: int = 2) -> str:
    from tabulate import tabulate

    m = track_cls.metric(track_cls.primary)
    label = m.label or m.name
    direction = "higher is better" if m.higher_is_better else "lower is better"
    base = next((r.method for r in rows if r.is_baseline), "(baseline missing)")
    h = "#" * heading_level
    lines = [
        f"Primary metric: **{label}** ({direction}); baseline: **{base}**. Mean ± std over seeds; "
        "Δ is the paired difference against the baseline over shared seeds with its 95% CI, always on the "
        "same test examples: a method scored on other examples than the baseline is compared on the ones "
        "both were scored on (recomputed from the prediction files: 'N shared examples') or not at all "
        "(the reason is shown); `*` marks p < 0.05 after Holm correction across the methods of a dataset.",
        "",
    ]
    headers, tables = leaderboard_cells(rows, track_cls)
    for ds, table in tables:
        lines += [f"{h} {ds}", "", tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


def published_cell(c: ClaimResult) -> str:
    """The published value with its source and the comparable mark, or "-"."""
    return f"{c.published} [{c.comparable}]" if c.published else "-"


def claims_markdown(results: Sequence[ClaimResult]) -> str:
    """The claims table: the row's p, its Holm-adjusted p within the claim, its q across every row
    published together, and the verdict."""
    from tabulate import tabulate

    if not results:
        return "_No claims registered for this track._\n"
    table = [
        [
            c.claim,
            c.dataset,
            c.kind,
            published_cell(c),
            c.ours,
            fmt(c.smallest_effect, ".3g"),
            _n_look(c),
            fmt(c.p, ".3g"),
            fmt(c.p_holm, ".3g"),
            fmt(c.q, ".3g"),
            f"**{c.verdict}**",
            c.decided_by or "-",
        ]
        for c in results
    ]
    headers = ["claim", "dataset", "kind", "published", "ours", "smallest effect", "n (look)", "p", "p (Holm)"]
    headers += ["q (BY)", "verdict", "decided by"]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True) + "\n"


def _n_look(c: ClaimResult) -> str:
    if c.n is None:
        return "-"
    return f"{c.n} (look {c.look})" if c.look else str(c.n)


def claims_records(results: Sequence[ClaimResult]) -> list[dict[str, Any]]:
    """Rows of ``<track>.claims.csv``: claim, dataset, kind, published, comparable, ours, p (the row's
    p-value: twice its smallest one-sided p, a repeated p-value for a --decide row), p_holm (within
    the claim), q (Benjamini-Yekutieli across every testable row published together), verdict, then
    smallest_effect, n, look, decided_by, the smallest-effect test's one-sided p, the row's estimate
    with its 95% interval (repeated interval for a --decide row) at the verdict's look, the estimate
    over all seeds when a --decide row has more than that look read (n_updated, estimate_updated),
    and the variance of the estimate from seeds and from the test examples."""
    return [
        {
            "claim": c.claim,
            "dataset": c.dataset,
            "kind": c.kind,
            "published": c.published,
            "comparable": c.comparable,
            "ours": c.ours,
            "p": c.p,
            "p_holm": c.p_holm,
            "q": c.q,
            "verdict": c.verdict,
            "smallest_effect": c.smallest_effect,
            "n": c.n,
            "look": c.look,
            "decided_by": c.decided_by,
            "p_small": c.p_small,
            "estimate": c.estimate,
            "ci95_lo": c.ci_lo,
            "ci95_hi": c.ci_hi,
            "n_updated": c.n_updated,
            "estimate_updated": c.estimate_updated,
            "seed_var": c.seed_var,
            "test_var": c.test_var,
        }
        for c in results
    ]
