"""Monotone-trend claims: a metric rises or falls with a swept method parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.claims.core import NA, Claim, ClaimResult, direction_verdict, fmt
from harness.claims.select import datasets, ok_rows
from harness.stats import spearman


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
        for ds in datasets(table, dataset):
            t = table[(table["dataset"] == ds) & (table["method_name"].isin(list(methods)))]
            if pcol not in t or mcol not in t:
                out.append(ClaimResult(text, published or "", "no results", NA, ds))
                continue
            ok = ok_rows(t).dropna(subset=[pcol, mcol])
            not_ok = t[t["status"] != "ok"]
            xs, ys = list(ok[pcol].astype(float)), list(ok[mcol].astype(float))
            rho, p = spearman(xs, ys)
            if math.isnan(rho):
                out.append(ClaimResult(text, published or "", f"too few results (n={len(xs)})", NA, ds))
                continue
            means = ok.groupby(pcol)[mcol].mean()
            ours = f"Spearman rho={rho:+.2f} (p={fmt(p)}, n={len(xs)}); means " + ", ".join(
                f"{param}={k:g}: {fmt(v)}" for k, v in means.items()
            )
            if len(not_ok):
                bad = ", ".join(f"{param}={v:g}" for v in sorted(set(not_ok[pcol].astype(float))))
                ours += f"; {len(not_ok)} cell(s) {'/'.join(sorted(set(not_ok['status'])))} excluded ({bad})"
            right = rho > 0 if direction == "increasing" else rho < 0
            out.append(ClaimResult(text, published or "", ours, direction_verdict(right, p), ds))
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)
