"""Report figures of the igr track: lambda_max against the edge of stability 2/lr, and the lr sweeps."""

from __future__ import annotations

import math
from typing import Any

from harness.tracks.igr.blocks import SWEEP, block_settings, describe_protocol


def short_labels(table: Any) -> dict[str, str]:
    """Block label -> "dataset · optimizer, protocol" (the full label lists every setting: too long for a plot)."""
    out: dict[str, str] = {}
    for block in sorted(set(table["dataset"])):
        t = table[table["dataset"] == block]
        s = block_settings(t)
        name = f"{t['dataset_name'].iloc[0]} · {s['optimizer'].upper()} {s['protocol']}"
        out[block] = name if name not in out.values() else f"{name} ({len(out) + 1})"
    return out


def track_figures(table: Any) -> list[tuple[str, Any]]:
    from harness.report.plots import sweep_figure

    if not len(table):
        return []
    out = []
    fig = edge_figure(table)
    if fig is not None:
        out.append(
            (
                "λ_max of the training-loss Hessian at the end (dots) and at initialisation (dotted) against the "
                "learning rate, with the edge of stability 2/lr (dashed): GD is stable near a minimum only below "
                "it. Hollow dots: arms that did not reach their block's target loss (underfit). Mean over seeds.",
                fig,
            )
        )
    short = table.assign(dataset=table["dataset"].map(short_labels(table)))
    fig = sweep_figure(
        short, SWEEP, "lr", ["test_accuracy", "grad_norm_sq", "lambda_max", "sharpness_0.05"], log_x=True
    )
    if fig:
        out.append(("Metrics against the learning rate, one line per block (mean and 95% CI over seeds)", fig))
    return out


def edge_figure(table: Any) -> Any | None:
    """One panel per block: mean lambda_max (end, init) per lr of the plain lr sweep, and 2/lr."""
    if not len(table) or "p.lr" not in table or "m.lambda_max" not in table:
        return None
    t = table[table["method_name"].isin(list(SWEEP)) & (table["status"] == "ok")]
    t = t[t["m.lambda_max"].notna()]
    if not len(t):
        return None
    from matplotlib.ticker import NullFormatter

    from harness.report.plots import _plt, wrap_title

    plt = _plt()

    blocks = sorted(set(t["dataset"]))
    cols = min(3, len(blocks))
    nrows = math.ceil(len(blocks) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(blocks) :]:
        ax.set_visible(False)
    for ax, block in zip(axes.flat, blocks):
        d = t[t["dataset"] == block]
        lrs = sorted(set(d["p.lr"].astype(float)))
        for lr in lrs:
            rows = d[d["p.lr"].astype(float) == lr]
            reached = rows["m.reached_target"].mean() if "m.reached_target" in rows else math.nan
            face = "none" if reached == reached and reached < 1.0 else "C0"
            ax.scatter([lr], [rows["m.lambda_max"].mean()], facecolors=face, edgecolors="C0", s=30, zorder=3)
        init = table[table["dataset"] == block]["m.lambda_max_init"] if "m.lambda_max_init" in table else None
        if init is not None and init.notna().any():  # one value per block: every arm starts from it
            ax.axhline(float(init.mean()), color="0.6", ls=":", lw=1)
        grid = [lrs[0] * (lrs[-1] / lrs[0]) ** (i / 50) for i in range(51)] if len(lrs) > 1 else lrs
        ax.plot(grid, [2.0 / x for x in grid], "k--", lw=1, label="2/lr")
        ax.scatter([], [], color="C0", label="λ_max (end)")
        ax.plot([], [], color="0.6", ls=":", label="λ_max (init)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on a sub-decade lr grid
        ax.set_xlabel("lr")
        protocol = wrap_title(describe_protocol(block_settings(d)), 4.4 - 0.5, 7)  # never into the next panel
        ax.set_title(f"{d['dataset_name'].iloc[0]}\n{protocol}", fontsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
