"""Report figures read at 1,400 px: panel titles never run into each other (issue 19, item 7).

The quick igr report drew five panels in one 2,100 px row, titled with full block labels such as
``mnist[n_test=5000,n_train=5000,n_valid=1000] · epochs=50 hessian_rows=1000 optimizer=sgd ...``,
and the titles overlapped. The check renders the figure and compares the drawn boxes.
"""

from __future__ import annotations

from itertools import combinations
from types import SimpleNamespace

import pytest

pytest.importorskip("matplotlib")

from harness.report.plots import DPI, PAGE_PX, method_bars, wrap_title  # noqa: E402

IGR_BLOCKS = [
    "mnist1d[n_train=1000] · max_steps=8000 protocol=converge target_loss=0.1",
    "mnist[n_test=5000,n_train=1000,n_valid=1000] · max_steps=4000 protocol=converge target_loss=0.1",
    "mnist[n_test=5000,n_train=1000,n_valid=1000] · target_loss=0.15 time=40",
    "mnist[n_test=5000,n_train=5000,n_valid=1000] · epochs=50 hessian_rows=1000 optimizer=sgd protocol=epochs "
    "target_loss=0.3",
    "mnist[n_test=5000,n_train=5000,n_valid=1000] · hessian_rows=1000 max_steps=5000 optimizer=sgd "
    "protocol=converge target_loss=0.25",
]


def _rows(datasets: list[str]) -> list[SimpleNamespace]:
    methods = ["small-lr", "constant-lr[lr=0.08]", "egr[lr=0.04,mu=0.04]", "pet-zero[calibrate=false,pattern=p2]"]
    return [
        SimpleNamespace(
            dataset=ds, method=m, mean=0.8 + 0.01 * i, ci_lo=0.78 + 0.01 * i, ci_hi=0.82 + 0.01 * i, n_ok=3,
            is_baseline=i == 0,
        )
        for ds in datasets
        for i, m in enumerate(methods)
    ]  # fmt: skip


def test_wrap_title_breaks_at_spaces_then_after_commas():
    text = IGR_BLOCKS[3]
    wrapped = wrap_title(text, 2.0, 8)  # 30 characters a line
    lines = wrapped.split("\n")
    assert len(lines) > 3 and all(len(line) <= 30 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost: breaks at spaces, after commas
    assert lines[0] == "mnist[n_test=5000,"
    assert wrap_title("sentiment · k=16", 4.0, 8) == "sentiment · k=16"


def test_method_bars_titles_do_not_overlap_and_fit_the_page():
    fig = method_bars(_rows(IGR_BLOCKS), "test accuracy")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == len(IGR_BLOCKS)
    titles = [ax.title.get_window_extent(renderer) for ax in axes]
    for a, b in combinations(titles, 2):
        assert not a.overlaps(b), (a, b)
    for i, title in enumerate(titles):  # nor into another panel's bars, tick labels or axis label
        for j, ax in enumerate(axes):
            if i != j:
                for box in (ax.bbox, ax.xaxis.get_tightbbox(renderer), ax.yaxis.get_tightbbox(renderer)):
                    assert not title.overlaps(box), (IGR_BLOCKS[i], IGR_BLOCKS[j])
    width_px = fig.get_size_inches()[0] * DPI
    assert width_px <= PAGE_PX  # shown at its own size, not scaled down by the page


def _claim_row(estimate: float, lo: float, hi: float, verdict: str = "inconclusive", look: int = 2) -> SimpleNamespace:
    return SimpleNamespace(
        verdict=verdict, sample=object(), estimate=estimate, ci_lo=lo, ci_hi=hi, family="fewshot: semi beats few",
        claim="semi beats few", dataset=f"sentiment · k={look}", kind="superiority", thresholds=(0.0, 0.01),
        units="Δ accuracy", n=3 * look, look=look,
    )  # fmt: skip


def test_a_far_wider_interval_is_cut_at_the_axis_so_the_other_rows_keep_their_scale():
    """The fewshot semi-supervised panel: one row read at its first look spans about -6 to 6, the others
    a few points of accuracy. The axis stays on the others; the wide one is cut, with arrows and numbers."""
    from harness.report.forest import forest_figure

    rows = [_claim_row(0.02 + 0.01 * i, 0.0 + 0.01 * i, 0.04 + 0.01 * i, "reproduced") for i in range(4)]
    rows.append(_claim_row(0.1, -6.1, 6.3, look=1))
    fig = forest_figure(rows)
    ax = fig.axes[0]
    xmin, xmax = ax.get_xlim()
    kept_span = max(r.ci_hi for r in rows[:4]) - min(r.ci_lo for r in rows[:4])
    assert xmax - xmin < 1.0 and kept_span / (xmax - xmin) > 0.5  # the four rows use most of the axis
    texts = [t.get_text() for t in ax.texts]
    assert any("-6.1" in t and "6.3" in t and "cut at the axis" in t for t in texts), texts
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 2  # both ends of the wide interval leave the axis
    drawn = [line.get_xdata() for line in ax.lines if len(line.get_xdata()) == 2]
    assert all(xmin <= min(x) and max(x) <= xmax for x in drawn)  # nothing drawn past the axis
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_intervals_of_similar_width_are_never_cut():
    from harness.report.forest import axis_range

    rows = [_claim_row(0.5 * i, 0.5 * i - 1.0, 0.5 * i + 1.2) for i in range(4)]
    (xmin, xmax), wide = axis_range(rows)
    assert not wide and xmin <= -1.0 and xmax >= 2.7
