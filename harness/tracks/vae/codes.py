"""2-D code samples saved per cell, and the report figure drawn from them without retraining."""

from __future__ import annotations

from typing import Any


def codes_path(key: str) -> Any:
    from harness.artifacts import artifact_path

    return artifact_path("vae-codes", key, ".npz")


def save_codes(key: str, mu: Any, labels: Any) -> None:
    """Keep a 2-D code sample per cell so the report can draw the code space without retraining."""
    import io

    import numpy as np

    from harness.artifacts import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, mu=mu, y=labels)
    atomic_write_bytes(codes_path(key), buf.getvalue())


def code_space_figure(table: Any) -> Any | None:
    import numpy as np

    if not len(table) or "m.latent" not in table:
        return None
    t = table[(table["status"] == "ok") & (table["m.latent"] == 2)].sort_values("seed")
    panels = []
    for (ds, method), rows in t.groupby(["dataset_name", "method_name"], sort=True):
        for key in rows["key"]:
            path = codes_path(key)
            if path.exists():
                with np.load(path) as f:
                    panels.append((ds, method, f["mu"], f["y"]))
                break
    if not panels:
        return None
    from harness.report.plots import _plt

    plt = _plt()
    datasets = sorted({p[0] for p in panels})
    methods = sorted({p[1] for p in panels})
    fig, axes = plt.subplots(
        len(datasets), len(methods), figsize=(3.2 * len(methods), 3.0 * len(datasets)), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_visible(False)
    for ds, method, mu, y in panels:
        ax = axes[datasets.index(ds)][methods.index(method)]
        ax.set_visible(True)
        ax.scatter(mu[:, 0], mu[:, 1], c=y, cmap="tab10", s=2, vmin=0, vmax=9)
        ax.set_title(f"{ds} · {method}", fontsize=8)
        circle = plt.Circle((0, 0), 2.0, fill=False, linestyle="--", linewidth=0.8)  # ~95% of N(0, I)
        ax.add_patch(circle)
        ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig
