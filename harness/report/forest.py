"""Forest plots of claim rows: each row's paired estimate with its 95% interval, the thresholds as lines.

Why a forest plot at the top of each track: a verdict is a statement about where an interval lies
against 0 and against the smallest effect, the margin or the band; seeing the interval beside its
lines shows at once why a row was decided or why it is not. One panel per claim (its rows share
units); rows tested over test examples (no per-seed interval) are listed in the claims table only.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

COLOURS = {"reproduced": "#1a7f1a", "not reproduced": "#c0392b", "inconclusive": "#d68910"}
ROW_INCHES, PANEL_EXTRA, WIDTH = 0.32, 1.0, 11.0


def _rows_with_intervals(claims: list[Any]) -> dict[str, list[Any]]:
    panels: dict[str, list[Any]] = {}
    for c in claims:
        if c.verdict in COLOURS and c.sample is not None and not math.isnan(c.estimate):
            panels.setdefault(c.family, []).append(c)
    return panels


def forest_figure(claims: list[Any]) -> Any | None:
    """One figure with a panel per claim that has rows with intervals (None when no claim has)."""
    panels = _rows_with_intervals(claims)
    if not panels:
        return None
    from harness.report.plots import _plt

    plt = _plt()
    heights = [ROW_INCHES * len(rows) + PANEL_EXTRA for rows in panels.values()]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(WIDTH, sum(heights)), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    for ax, (family, rows) in zip(axes[:, 0], panels.items()):
        _panel(ax, family.split(": ", 1)[-1], rows)
    fig.tight_layout(h_pad=1.2)
    return fig


def _panel(ax: Any, title: str, rows: list[Any]) -> None:
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        colour = COLOURS[r.verdict]
        lo, hi = r.ci_lo, r.ci_hi
        if not (math.isnan(lo) or math.isnan(hi)):
            ax.plot([lo, hi], [y, y], color=colour, linewidth=2)
        ax.plot([r.estimate], [y], "o", color=colour, markersize=5)
    for t in rows[0].thresholds:
        ax.axvline(t, color="#555" if t == 0 else "#2c3e91", linestyle="-" if t == 0 else "--", linewidth=1)
        if t != 0:  # labelled inside the panel, at its foot, so it never meets the title above
            ax.annotate(
                " " + _threshold_label(rows[0]),
                (t, 0.04),
                xycoords=("data", "axes fraction"),
                fontsize=7,
                color="#2c3e91",
                ha="left",
                va="bottom",
            )
    ax.set_yticks(ys)
    ax.set_yticklabels([_row_label(r) for r in rows], fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_title("\n".join(textwrap.wrap(title, 120)), fontsize=8, loc="left")
    ax.set_xlabel(rows[0].units, fontsize=7)
    ax.tick_params(axis="x", labelsize=7)


def _threshold_label(r: Any) -> str:
    if r.kind == "non-inferiority":
        return "-margin"
    if r.kind == "equivalence":
        return "band"
    return "smallest effect"


def _row_label(r: Any) -> str:
    label = r.dataset if len(r.dataset) <= 48 else r.dataset[:45] + "..."
    extra = r.claim[len(r.family.split(": ", 1)[-1]) :].strip()
    label = f"{label} {extra}" if extra else label
    look = f", look {r.look}" if r.look else ""
    return f"{label} (n={r.n}{look})"
