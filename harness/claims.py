"""Claims: machine-checkable statements from the papers, evaluated on our results.

Each claim yields one row per dataset (or one row for exact checks): the claim, the published
value where one exists, ours, and a verdict. Verdicts are deliberately conservative:
``reproduced`` needs the right direction AND p < 0.05 over seeds; the wrong direction with
p < 0.05 is ``not reproduced``; anything inside seed noise is ``inconclusive``; no data is ``n.a.``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.stats import paired_test, spearman, summarize

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NA = "reproduced", "not reproduced", "inconclusive", "n.a."
ALPHA = 0.05


@dataclass
class ClaimResult:
    claim: str
    published: str
    ours: str
    verdict: str
    dataset: str = ""


@dataclass
class Claim:
    """A claim with a check ``(table, track) -> list[ClaimResult]``."""

    text: str
    check: Callable[[Any, Any], list[ClaimResult]]
    published: str | None = None

    def evaluate(self, table: Any, track: Any) -> list[ClaimResult]:
        try:
            return self.check(table, track)
        except Exception as exc:  # a broken claim shows as such; it never breaks the report
            return [ClaimResult(self.text, self.published or "", f"check failed: {exc}", NA)]


def _ok(table: Any) -> Any:
    return table[table["status"] == "ok"] if len(table) else table


def rows_for(table: Any, selector: str) -> Any:
    """Rows of a method selector with its parameters resolved against the defaults.

    ``logit-adjusted`` means ``logit-adjusted`` at its default tau, never a mix of a tau sweep;
    ``pet[pattern=p2]`` means exactly that parameterisation.
    """
    from harness.registry import REGISTRY, parse_selector

    rows = table[table["method"] == selector]
    if len(rows) or not len(table):
        return rows
    name, raw = parse_selector(selector)
    rows = table[table["method_name"] == name]
    try:
        params = REGISTRY.get("method", name, str(table["track"].iloc[0])).resolve_params(raw)
    except Exception:  # an unregistered method: fall back to the name
        return rows
    for key, value in params.items():
        col = f"p.{key}"
        if col in rows and len(rows):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows = rows[rows[col].astype(float).sub(float(value)).abs() <= 1e-12 * max(1.0, abs(float(value)))]
            else:
                rows = rows[rows[col] == value]
    return rows


def ok_by_seed(rows: Any, metric: str) -> dict[int, float]:
    """``metric`` of the ``ok`` rows by seed (failed cells and NaN values left out)."""
    rows = _ok(rows)
    col = f"m.{metric}"
    if col not in rows:
        return {}
    return {int(s): float(v) for s, v in zip(rows["seed"], rows[col]) if not math.isnan(float(v))}


def direction_verdict(right_direction: bool, p: float) -> str:
    """Verdict for a directional claim: significant (p < 0.05) in the claimed direction is
    ``reproduced``, significant against it ``not reproduced``, anything else ``inconclusive``."""
    if p is None or math.isnan(p):
        return INCONCLUSIVE
    if p < ALPHA:
        return REPRODUCED if right_direction else NOT_REPRODUCED
    return INCONCLUSIVE


def equivalence_verdict(within: bool, p: float) -> str:
    """Verdict for an 'about equal' claim: inside the equivalence band is ``reproduced``; outside it
    with p < 0.05 is ``not reproduced``; outside but within seed noise is ``inconclusive``."""
    if within:
        return REPRODUCED
    return NOT_REPRODUCED if (p == p and p < ALPHA) else INCONCLUSIVE


def _fmt(x: float) -> str:
    if x is None or math.isnan(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e-2 or abs(x) >= 1e3 else f"{x:.4f}"


def _datasets(table: Any, dataset: str | None) -> list[str]:
    if not len(table):
        return []
    names = sorted(set(table["dataset"]))
    return [d for d in names if dataset is None or d == dataset or d.split("[")[0] == dataset]


def paired_better(
    a: str, b: str, metric: str, dataset: str | None = None, published: str | None = None, text: str | None = None
) -> Claim:
    """Method ``a`` beats ``b`` on ``metric`` (direction from the track's Metric), paired over seeds."""
    text = text or f"{a} beats {b} on {metric}"

    def check(table: Any, track: Any) -> list[ClaimResult]:
        higher = track.metric(metric).higher_is_better
        out = []
        for ds in _datasets(table, dataset):
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
                f"{_fmt(sb.mean)} -> {_fmt(sa.mean)} (delta {_fmt(pr.delta)} [{_fmt(pr.ci_lo)}, {_fmt(pr.ci_hi)}], "
                f"p={_fmt(pr.p)}, n={pr.n})"
            )
            if failed:
                ours += f"; {failed} cell(s) not ok excluded"
            out.append(ClaimResult(text, published or "", ours, direction_verdict(right, pr.p), ds))
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)


better = paired_better


def trend(
    methods: Sequence[str],
    param: str,
    metric: str,
    direction: str,
    dataset: str | None = None,
    published: str | None = None,
    text: str | None = None,
) -> Claim:
    """``metric`` rises (``increasing``) or falls (``decreasing``) with the method parameter ``param``.

    Tested by Spearman correlation over all ok cells of the listed methods (seeds pooled);
    diverged cells are excluded and counted in the text.
    """
    if direction not in ("increasing", "decreasing"):
        raise ValueError("direction must be 'increasing' or 'decreasing'")
    text = text or f"{metric} is {direction} in {param}"

    def check(table: Any, track: Any) -> list[ClaimResult]:
        out = []
        pcol, mcol = f"p.{param}", f"m.{metric}"
        for ds in _datasets(table, dataset):
            t = table[(table["dataset"] == ds) & (table["method_name"].isin(list(methods)))]
            if pcol not in t or mcol not in t:
                out.append(ClaimResult(text, published or "", "no results", NA, ds))
                continue
            ok = _ok(t).dropna(subset=[pcol, mcol])
            not_ok = t[t["status"] != "ok"]
            xs, ys = list(ok[pcol].astype(float)), list(ok[mcol].astype(float))
            rho, p = spearman(xs, ys)
            if math.isnan(rho):
                out.append(ClaimResult(text, published or "", f"too few results (n={len(xs)})", NA, ds))
                continue
            means = ok.groupby(pcol)[mcol].mean()
            ours = f"Spearman rho={rho:+.2f} (p={_fmt(p)}, n={len(xs)}); means " + ", ".join(
                f"{param}={k:g}: {_fmt(v)}" for k, v in means.items()
            )
            if len(not_ok):
                bad = ", ".join(f"{param}={v:g}" for v in sorted(set(not_ok[pcol].astype(float))))
                ours += f"; {len(not_ok)} cell(s) {'/'.join(sorted(set(not_ok['status'])))} excluded ({bad})"
            right = rho > 0 if direction == "increasing" else rho < 0
            out.append(ClaimResult(text, published or "", ours, direction_verdict(right, p), ds))
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)


def exact(text: str, fn: Callable[[], tuple[str, bool]], published: str | None = None) -> Claim:
    """An exact or deterministic check computed at report time: ``fn() -> (ours, ok)``."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        ours, ok = fn()
        return [ClaimResult(text, published or "", ours, REPRODUCED if ok else NOT_REPRODUCED, "(exact)")]

    return Claim(text, check, published)
