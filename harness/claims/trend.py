"""Monotone-trend claims: a metric rises or falls with a swept method parameter.

Why per method: two models swept over the same parameter (tied and untied skip-gram) are two
curves; pooling them lets one curve's slope stand in for the other's. Each method is its own row
(``pool=True`` joins methods that are points of one sweep, e.g. a baseline at the smallest lr).

The test is paired over seeds, like every other seed-level kind: per seed, the least-squares line
of the metric against the grid's rank gives the change across the grid (slope x (points - 1), in
the metric's units), and the rule tests the seeds' changes (two-sided, and against the claim's
smallest effect of interest). Seeds are blocks: each seed's curve shares its initialisation and
data order, so seed-to-seed offsets cancel (a pooled rank correlation over all cells would count
them as noise and treat 5 seeds x 5 points as 25 independent points). Spearman's rho over the
cells stays in the row as a description. A curve that turns (its best point lies inside the grid
and the last point is significantly worse than the best, paired over seeds) is reported as
U-shaped (or inverted-U) in the row: a straight line cannot see that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.claims.core import NA, Claim, Evidence, Published, fmt
from harness.claims.preconditions import Precondition, check_all
from harness.claims.sample import RowSample, SmallestEffect
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
    smallest_effect: SmallestEffect | None = None,
) -> Claim:
    """``metric`` rises (``increasing``) or falls (``decreasing``) with the method parameter ``param``,
    by at least ``smallest_effect`` across the grid (in the metric's units)."""
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
                if ev.sample is not None:
                    ev.sample.smallest_effect = smallest_effect.value if smallest_effect else math.nan
                ev.untestable = check_all(preconditions, {label or "/".join(group): t})
                out.append(ev)
        return out

    return Claim(text, rows, "trend", metric, direction, published, note, tuple(preconditions), False, smallest_effect)


def _curve(t: Any, param: str, metric: str, direction: str) -> Evidence:
    pcol, mcol = f"p.{param}", f"m.{metric}"
    ok = ok_rows(t).dropna(subset=[pcol, mcol])
    not_ok = t[t["status"] != "ok"]
    xs, ys = list(ok[pcol].astype(float)), list(ok[mcol].astype(float))
    rho, _ = spearman(xs, ys)
    if math.isnan(rho):
        return Evidence("", f"too few results (n={len(xs)}, {len(set(xs))} values of {param})", verdict=NA)
    means = ok.groupby(ok[pcol].astype(float))[mcol].mean()
    sign = 1.0 if direction == "increasing" else -1.0
    changes = {s: sign * c for s, c in per_seed_change(ok, pcol, mcol).items()}
    sample = RowSample(changes, "trend", keys=tuple(sorted(t["key"])) if "key" in t else ())
    sample.units = f"change of {metric} across the {param} grid (per seed; positive: {direction})"
    lo, hi = sample.ci()
    change = f"change across the grid {fmt(sign * sample.mean)}"
    change += f" [{fmt(min(sign * lo, sign * hi))}, {fmt(max(sign * lo, sign * hi))}]" if sample.n > 1 else ""
    ours = f"{change} (per-seed fit, n={sample.n}); Spearman rho={rho:+.2f} over {len(xs)} cells; means " + ", ".join(
        f"{param}={k:g}: {fmt(v)}" for k, v in means.items()
    )
    shape = _shape(ok, pcol, mcol, means, direction)
    if shape:
        ours = f"{shape}; {ours}"
    if len(not_ok):
        bad = ", ".join(f"{param}={v:g}" for v in sorted(set(not_ok[pcol].astype(float))))
        ours += f"; {len(not_ok)} cell(s) {'/'.join(sorted(set(not_ok['status'])))} excluded ({bad})"
    return Evidence("", ours, sample=sample)


def per_seed_change(ok: Any, pcol: str, mcol: str) -> dict[int, float]:
    """Per seed: the least-squares slope of the metric on the rank of the grid value, times the
    number of grid steps (the fitted change from the first grid point to the last). Seeds with
    fewer than two points are left out; ranks come from the whole grid, so a seed missing a point
    keeps its other points in place."""
    grid = sorted(set(ok[pcol].astype(float)))
    rank = {x: i for i, x in enumerate(grid)}
    out = {}
    for seed, g in ok.groupby("seed"):
        r = [rank[float(x)] for x in g[pcol]]
        y = [float(v) for v in g[mcol]]
        if len(set(r)) < 2:
            continue
        rm, ym = sum(r) / len(r), sum(y) / len(y)
        slope = sum((a - rm) * (b - ym) for a, b in zip(r, y)) / sum((a - rm) ** 2 for a in r)
        out[int(seed)] = slope * (len(grid) - 1)
    return out


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
