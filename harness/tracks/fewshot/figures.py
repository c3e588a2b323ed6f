"""The fewshot track's report figure: test accuracy against K, with zero-shot and all-labels references."""

from __future__ import annotations

import re
from typing import Any

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
