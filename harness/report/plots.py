"""Report plots (matplotlib, Agg): generic per-method bars and parameter sweeps with 95% CIs."""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from harness.stats import summarize


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


DPI = 90  # figures are sized in inches for a ~1,400 px wide page; 90 dpi keeps labels sharp enough


def to_data_uri(fig: Any) -> str:
    """PNG as a data: URI, so the HTML report is one self-contained file that opens offline.

    The PNG is reduced to a 256-colour palette (plots use few colours), which cuts its size
    several-fold (the report's size is printed by ``harness report``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    _plt().close(fig)
    try:
        from PIL import Image

        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=256)
        small = io.BytesIO()
        img.save(small, format="PNG", optimize=True)
        if small.tell() < buf.tell():
            buf = small
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib
        pass
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


PAGE_PX = 1400  # the report is read in a window this wide: a figure wider than it is scaled down
BAR_COLUMNS = 3  # panels per row of method_bars: 3 x PANEL_IN inches at DPI fit PAGE_PX unscaled
PANEL_IN = 4.2


def wrap_title(text: str, width_in: float, fontsize: float) -> str:
    """``text`` in lines no wider than ``width_in`` inches at ``fontsize`` points, broken at spaces,
    then after commas (a dataset label such as ``mnist[n_train=1000,n_valid=1000] · epochs=50`` is
    one long word), so that a panel's title never runs into its neighbour's."""
    width = max(12, int(width_in * 72 / (0.6 * fontsize)))  # 0.6 em: a generous mean glyph width
    lines: list[str] = []
    for line in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]:
        while len(line) > width and "," in line[: width - 1]:
            cut = line.rindex(",", 0, width - 1) + 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return "\n".join(lines)


def method_bars(rows: Sequence[Any], metric_label: str) -> Any | None:
    """Horizontal bars of the primary metric per method, one panel per dataset, with 95% CIs.

    At most ``BAR_COLUMNS`` panels per row and titles wrapped to the panel width: a row of five
    panels with full dataset labels as titles was 2,100 px wide and its titles ran into each other."""
    datasets = sorted({r.dataset for r in rows})
    if not datasets:
        return None
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    n_methods = max(sum(1 for r in rows if r.dataset == d) for d in datasets)
    cols = min(BAR_COLUMNS, len(datasets))
    nrows = math.ceil(len(datasets) / cols)
    titles = {ds: wrap_title(ds, PANEL_IN - 0.5, 8) for ds in datasets}  # a gap between neighbours
    title_in = max(t.count("\n") + 1 for t in titles.values()) * 8 * 1.3 / 72
    height = 0.35 * n_methods + 1.0 + title_in
    fig, axes = plt.subplots(
        nrows, cols, figsize=(PANEL_IN * cols, height * nrows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(datasets) :]:
        ax.set_visible(False)
    for ax, ds in zip(axes.flat, datasets):
        rs = sorted((r for r in rows if r.dataset == ds and r.n_ok), key=lambda r: r.mean)
        ys = range(len(rs))
        err = [
            [r.mean - r.ci_lo if r.ci_lo == r.ci_lo else 0 for r in rs],
            [r.ci_hi - r.mean if r.ci_hi == r.ci_hi else 0 for r in rs],
        ]
        ax.barh(list(ys), [r.mean for r in rs], xerr=err, color=["#c44" if r.is_baseline else "#48a" for r in rs])
        ax.set_yticks(list(ys))
        ax.set_yticklabels([r.method for r in rs], fontsize=7)
        lo = min((r.ci_lo if r.ci_lo == r.ci_lo else r.mean) for r in rs) if rs else 0
        hi = max((r.ci_hi if r.ci_hi == r.ci_hi else r.mean) for r in rs) if rs else 1
        pad = (hi - lo) * 0.15 or 0.01
        ax.set_xlim(lo - pad, hi + pad)
        ax.xaxis.set_major_locator(MaxNLocator(5))  # at most 5 ticks: labels never overlap
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(titles[ds], fontsize=8)
        ax.set_xlabel(metric_label, fontsize=8)
    return fig


def sweep_figure(
    table: Any, methods: Sequence[str], param: str, metrics: Sequence[str], log_x: bool = False
) -> Any | None:
    """Metric against a swept method parameter (e.g. lr), one line per dataset, mean and 95% CI."""
    pcol = f"p.{param}"
    if not len(table) or pcol not in table:
        return None
    t = table[(table["method_name"].isin(list(methods))) & (table["status"] == "ok")]
    if not len(t):
        return None
    from matplotlib.ticker import NullFormatter

    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        col = f"m.{metric}"
        if col not in t:
            ax.set_visible(False)
            continue
        for ds in sorted(set(t["dataset"])):
            d = t[t["dataset"] == ds]
            xs, means, los, his = [], [], [], []
            for x in sorted(set(d[pcol].astype(float))):
                s = summarize(list(d[d[pcol].astype(float) == x][col]))
                if s.n and not math.isnan(s.mean):
                    xs.append(x)
                    means.append(s.mean)
                    los.append(s.mean - s.ci_lo if s.ci_lo == s.ci_lo else 0)
                    his.append(s.ci_hi - s.mean if s.ci_hi == s.ci_hi else 0)
            ax.errorbar(xs, means, yerr=[los, his], marker="o", capsize=3, label=ds)
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on a sub-decade grid
        ax.set_xlabel(param)
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
