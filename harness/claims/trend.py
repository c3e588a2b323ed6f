"""Monotone-trend claims: a metric rises or falls with a swept method parameter.

Why per method: two models swept over the same parameter (tied and untied skip-gram) are two
curves; pooling them lets one curve's slope stand in for the other's. Each method is its own row
(``pool=True`` joins methods that are points of one sweep, e.g. a baseline at the smallest lr).
The test is Spearman's rank correlation over the ok cells (seeds pooled). A curve that turns
(its best point lies inside the grid and the last point is significantly worse than the best,
paired over seeds) is reported as U-shaped (or inverted-U) in the row: Spearman alone cannot see that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.claims.core import NA, Claim, Evidence, Published, fmt
from harness.claims.preconditions import Precondition, check_all
from harness.claims.select import dataset_names, datasets, ok_rows
from harness.stats import paired_test, spearman


def trend(
    methods: Sequence[str],
    param: str,
    metric: str,
    direction: str,
    dataset: str | None = None,
    published: Published | str | None = None,
    text: str | None = None,
    note: str = "",
    pool: bool = False,
    preconditions: Sequence[Precondition] = (),
) -> Claim:
    """``metric`` rises (``increasing``) or falls (``decreasing``) with the method parameter ``param``."""
    if direction not in ("increasing", "decreasing"):
        raise ValueError("direction must be 'increasing' or 'decreasing'")
    text = text or f"{metric} is {direction} in {param}"
    series = [tuple(methods)] if pool else [(m,) for m in methods]

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        pcol, mcol = f"p.{param}", f"m.{metric}"
        for ds in datasets(table, dataset):
            for group in series:
                label = "" if pool or len(series) == 1 else group[0]
                t = table[(table["dataset"] == ds) & (table["method_name"].isin(list(group)))]
                if not len(t):
                    continue
                names = dataset_names(t)
                if pcol not in t or mcol not in t:
                    out.append(Evidence(ds, "no results", verdict=NA, label=label, dataset_names=names))
                    continue
                ev = _curve(t, param, metric, direction)
                ev.dataset, ev.label, ev.dataset_names = ds, label, names
                ev.untestable = check_all(preconditions, {label or "/".join(group): t})
                out.append(ev)
        return out

    return Claim(text, rows, "trend", metric, direction, published, note, tuple(preconditions))


def _curve(t: Any, param: str, metric: str, direction: str) -> Evidence:
    pcol, mcol = f"p.{param}", f"m.{metric}"
    ok = ok_rows(t).dropna(subset=[pcol, mcol])
    not_ok = t[t["status"] != "ok"]
    xs, ys = list(ok[pcol].astype(float)), list(ok[mcol].astype(float))
    rho, p = spearman(xs, ys)
    if math.isnan(rho):
        return Evidence("", f"too few results (n={len(xs)}, {len(set(xs))} values of {param})", verdict=NA)
    means = ok.groupby(ok[pcol].astype(float))[mcol].mean()
    ours = f"Spearman rho={rho:+.2f} (n={len(xs)}); means " + ", ".join(
        f"{param}={k:g}: {fmt(v)}" for k, v in means.items()
    )
    shape = _shape(ok, pcol, mcol, means, direction)
    if shape:
        ours = f"{shape}; {ours}"
    if len(not_ok):
        bad = ", ".join(f"{param}={v:g}" for v in sorted(set(not_ok[pcol].astype(float))))
        ours += f"; {len(not_ok)} cell(s) {'/'.join(sorted(set(not_ok['status'])))} excluded ({bad})"
    right = rho > 0 if direction == "increasing" else rho < 0
    return Evidence("", ours, p, bool(right))


def _shape(ok: Any, pcol: str, mcol: str, means: Any, direction: str) -> str:
    """ "U-shaped ..." when the best mean lies inside the grid and the last point is significantly
    (paired over seeds, p < 0.05) worse than it; "" otherwise."""
    if len(means) < 3:
        return ""
    best = means.idxmin() if direction == "decreasing" else means.idxmax()
    last = means.index[-1]
    if best in (means.index[0], last):
        return ""
    by_x = {x: dict(zip(g["seed"].astype(int), g[mcol].astype(float))) for x, g in ok.groupby(ok[pcol].astype(float))}
    pr = paired_test(by_x[last], by_x[best])
    if not (pr.p == pr.p and pr.p < 0.05):
        return ""
    name = "U-shaped" if direction == "decreasing" else "inverted-U-shaped"
    return (
        f"{name}: best at {pcol[2:]}={best:g}, then {fmt(means[best])} -> {fmt(means[last])} at {last:g} "
        f"(paired delta {fmt(pr.delta)} [{fmt(pr.ci_lo)}, {fmt(pr.ci_hi)}], p={fmt(pr.p)}, n={pr.n})"
    )
