"""Report figures of the weightreg track."""

from __future__ import annotations

from typing import Any

from harness.claims import best_valid_selector
from harness.tracks.weightreg.constants import FGSM_EPS, fgsm_name


def track_figures(table: Any) -> list[tuple[str, Any]]:
    """The accuracy/robustness trade-off and each regulariser's coefficient sweep."""
    from harness.report.plots import sweep_figure

    out = []
    fig = tradeoff_figure(table, "test_accuracy", fgsm_name(FGSM_EPS[0]))
    if fig is not None:
        out.append(
            (
                f"Accuracy against FGSM accuracy (eps={FGSM_EPS[0]:g} std): one point per grid point "
                "(mean over seeds); ringed points are each method's best-valid coefficient",
                fig,
            )
        )
    for name, param in (("l2", "lam"), ("weight-decay", "wd"), ("weissi", "lam1")):
        fig = sweep_figure(
            table, [name], param, ["valid_accuracy", "test_accuracy", fgsm_name(0.1), "norm_imbalance"], log_x=True
        )
        if fig:
            out.append(
                (
                    f"{name}: metrics against {param} (mean and 95% CI over seeds"
                    + (", lam2 grid pooled" if name == "weissi" else "")
                    + ")",
                    fig,
                )
            )
    return out


def tradeoff_figure(table: Any, x_metric: str, y_metric: str) -> Any | None:
    """Scatter of two metrics per grid point, one panel per dataset, one colour per method."""
    xc, yc = f"m.{x_metric}", f"m.{y_metric}"
    if not len(table) or xc not in table or yc not in table:
        return None
    t = table[(table["status"] == "ok") & (table["track"] == "weightreg")] if "track" in table else table
    if not len(t):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted(set(t["dataset"]))
    names = sorted(set(t["method_name"]))
    colors = {n: f"C{i}" for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        d = t[t["dataset"] == ds]
        for name in names:
            best = best_valid_selector(table, name, ds)
            for label, rows in d[d["method_name"] == name].groupby("method"):
                x, y = float(rows[xc].mean()), float(rows[yc].mean())
                ax.scatter([x], [y], color=colors[name], s=22)
                if label == best:
                    ax.scatter([x], [y], facecolors="none", edgecolors=colors[name], s=110, linewidths=1.4)
            ax.scatter([], [], color=colors[name], label=name)
        ax.set_xlabel(x_metric)
        ax.set_ylabel(y_metric)
        ax.set_title(ds, fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig
