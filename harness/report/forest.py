"""Forest plots of claim rows: each row's paired estimate with its 95% interval, the thresholds as lines.

Why a forest plot at the top of each track: a verdict is a statement about where an interval lies
against 0 and against the smallest effect, the margin or the band; seeing the interval beside its
lines shows at once why a row was decided or why it is not. One panel per claim (its rows share
units); rows tested over test examples (no per-seed interval) are listed in the claims table only.

Why clip: a row read at its first look of a --decide design (3 seeds, a t critical value of ~260
under O'Brien-Fleming spending) can have an interval hundreds of times wider than its neighbours';
scaling the axis to it collapses every other row to a dot. An interval more than ``WIDE`` times the
panel's typical width is cut at the axis, its cut ends drawn as arrows and its numbers written
beside it, so the other rows keep their scale.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

COLOURS = {"reproduced": "#1a7f1a", "not reproduced": "#c0392b", "inconclusive": "#d68910", "exploratory": "#888888"}
ROW_INCHES, PANEL_EXTRA, WIDTH = 0.32, 1.0, 11.0
WIDE = 5.0  # an interval wider than this many typical widths is clipped at the axis
PAD = 0.12  # share of the kept span added on each side


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


def axis_range(rows: list[Any]) -> tuple[tuple[float, float], set[int]]:
    """The x range of a panel and the rows whose intervals are clipped to it: intervals wider than
    ``WIDE`` times the panel's lower-median width are left out of the range (their estimates too,
    when they fall outside), the thresholds are always in it."""
    widths = [r.ci_hi - r.ci_lo for r in rows if _finite(r.ci_lo, r.ci_hi)]
    typical = sorted(widths)[(len(widths) - 1) // 2] if widths else 0.0
    limit = WIDE * typical if typical > 0 else math.inf
    wide = {i for i, r in enumerate(rows) if _finite(r.ci_lo, r.ci_hi) and r.ci_hi - r.ci_lo > limit}
    points = list(rows[0].thresholds)
    for i, r in enumerate(rows):
        if i not in wide:
            points += [x for x in (r.ci_lo, r.ci_hi, r.estimate) if _finite(x)]
    if not points:
        points = [r.estimate for r in rows if _finite(r.estimate)] or [0.0]
    lo, hi = min(points), max(points)
    pad = PAD * (hi - lo) if hi > lo else max(abs(lo), 1.0) * PAD
    return (lo - pad, hi + pad), wide


def _finite(*xs: float) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _panel(ax: Any, title: str, rows: list[Any]) -> None:
    ys = list(range(len(rows)))[::-1]
    (xmin, xmax), wide = axis_range(rows)
    for i, (y, r) in enumerate(zip(ys, rows)):
        colour = COLOURS[r.verdict]
        lo, hi = r.ci_lo, r.ci_hi
        if _finite(lo, hi):
            ax.plot([max(lo, xmin), min(hi, xmax)], [y, y], color=colour, linewidth=2)
        if i in wide:
            _clipped(ax, y, r, xmin, xmax, colour)
        if xmin <= r.estimate <= xmax:
            ax.plot([r.estimate], [y], "o", color=colour, markersize=5)
    ax.set_xlim(xmin, xmax)
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


def _clipped(ax: Any, y: float, r: Any, xmin: float, xmax: float, colour: str) -> None:
    """Arrows where a wide interval leaves the axis, and its estimate and interval written beside it."""
    span = xmax - xmin
    for end, edge, inward in ((r.ci_lo, xmin, 1), (r.ci_hi, xmax, -1)):
        if (end < edge) if inward > 0 else (end > edge):
            ax.annotate(
                "",
                xy=(edge, y),
                xytext=(edge + inward * 0.06 * span, y),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.5},
                annotation_clip=False,
            )
    text = f"{_num(r.estimate)} [{_num(r.ci_lo)}, {_num(r.ci_hi)}] (cut at the axis)"
    ax.annotate(text, (0.5, y), xycoords=("axes fraction", "data"), xytext=(0, 4), textcoords="offset points",
                fontsize=6.5, color=colour, ha="center", va="bottom")  # fmt: skip


def _num(x: float) -> str:
    return f"{x:.3g}"


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
