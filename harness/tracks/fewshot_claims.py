"""Claim checks and the K-vs-accuracy figure of the fewshot track.

Why not only ``paired_better``: zero-shot PET trains nothing, so every seed gives the same
accuracy and a paired test over seeds has no variance to work with. For those claims the unit of
evidence is the test text: a binomial test against chance, and a two-proportion z-test between
patterns (unpaired, hence conservative: the two patterns see the same texts).
"""

from __future__ import annotations

import math
import re
from typing import Any

from harness.claims import NA, Claim, ClaimResult, direction_verdict, rows_for


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


_BACKBONE = re.compile(r"backbone=(\S+)")


def k_figure(table: Any, track_name: str = "fewshot") -> Any | None:
    """Test accuracy against K (log x): one line per method with several K values (mean, 95% CI),
    a dashed horizontal line for methods at one K only (zero-shot, all labels)."""
    from harness.report.plots import _plt
    from harness.stats import summarize

    if table is None or not len(table) or "m.labelled_texts" not in table or "m.test_accuracy" not in table:
        return None
    t = table[table["status"] == "ok"]
    if "track" in t:
        t = t[t["track"] == track_name]
    if not len(t):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    settings = t["setting"] if "setting" in t else [""] * len(t)
    backbone = [(_BACKBONE.search(str(s)).group(1) if _BACKBONE.search(str(s)) else "") for s in settings]
    t = t.assign(_line=[m + (f" ({b})" if b else "") for m, b in zip(t["method"], backbone)])
    grid: set[float] = set()
    for i, (name, rows) in enumerate(sorted(t.groupby("_line"), key=lambda kv: kv[0])):
        ks = sorted(set(rows["m.labelled_texts"].astype(float)))
        if ks == [0.0] or set(rows["method_name"]) == {"full"}:  # references: no labels / all labels
            s = summarize(list(rows["m.test_accuracy"]))
            ax.axhline(s.mean, ls="--", lw=1, color=f"C{i % 10}", label=f"{name} (K={ks[0]:g})")
            continue
        xs, means, lo, hi = [], [], [], []
        for k in ks:
            s = summarize(list(rows[rows["m.labelled_texts"].astype(float) == k]["m.test_accuracy"]))
            xs.append(k)
            means.append(s.mean)
            lo.append(s.mean - s.ci_lo if s.ci_lo == s.ci_lo else 0)
            hi.append(s.ci_hi - s.mean if s.ci_hi == s.ci_hi else 0)
        ax.errorbar(xs, means, yerr=[lo, hi], marker="o", capsize=3, color=f"C{i % 10}", label=name)
        grid.update(xs)
    ax.axhline(0.5, ls=":", lw=1, color="grey", label="chance (balanced test set)")
    ax.set_xscale("log")
    if grid:
        ax.set_xticks(sorted(grid))
        ax.set_xticklabels([f"{k:g}" for k in sorted(grid)])
        ax.minorticks_off()
    ax.set_xlabel("labelled texts K")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig
