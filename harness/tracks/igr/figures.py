"""Report figures of the igr track: lambda_max against the edge of stability 2/lr, and the lr sweeps."""

from __future__ import annotations

import math
from typing import Any

from harness.tracks.igr.claims import SWEEP


def track_figures(table: Any) -> list[tuple[str, Any]]:
    from harness.report.plots import sweep_figure

    out = []
    fig = edge_figure(table)
    if fig is not None:
        out.append(
            (
                "λ_max of the training-loss Hessian at the end (filled) and at initialisation (grey) against the "
                "learning rate, with the edge of stability 2/lr (dashed): GD is stable near a minimum only below "
                "it. Hollow markers: arms that did not reach their block's target loss (underfit). Mean over seeds.",
                fig,
            )
        )
    metrics = ["test_accuracy", "grad_norm_sq", "lambda_max", "sharpness_0.05"]
    fig = sweep_figure(table, SWEEP, "lr", metrics, log_x=True)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = sorted(set(t["dataset"]))
    fig, axes = plt.subplots(1, len(blocks), figsize=(4.4 * len(blocks), 3.4), squeeze=False)
    for ax, block in zip(axes[0], blocks):
        d = t[t["dataset"] == block]
        lrs = sorted(set(d["p.lr"].astype(float)))
        for lr in lrs:
            rows = d[d["p.lr"].astype(float) == lr]
            reached = rows["m.reached_target"].mean() if "m.reached_target" in rows else math.nan
            underfit = reached == reached and reached < 1.0
            face = "none" if underfit else "C0"
            ax.scatter([lr], [rows["m.lambda_max"].mean()], facecolors=face, edgecolors="C0", s=30, zorder=3)
            if "m.lambda_max_init" in rows and rows["m.lambda_max_init"].notna().any():
                ax.scatter([lr], [rows["m.lambda_max_init"].mean()], color="0.6", marker="x", s=20, zorder=2)
        grid = [lrs[0] * (lrs[-1] / lrs[0]) ** (i / 50) for i in range(51)] if len(lrs) > 1 else lrs
        ax.plot(grid, [2.0 / x for x in grid], "k--", lw=1, label="2/lr")
        ax.scatter([], [], color="C0", label="λ_max (end)")
        ax.scatter([], [], color="0.6", marker="x", label="λ_max (init)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("lr")
        ax.set_title(block, fontsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
