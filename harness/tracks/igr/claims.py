"""Claims of the igr track: the backward-error checks (exact) and the deep-net lr trends and EGR arms."""

from __future__ import annotations

from harness.claims import Claim, exact, paired_better, trend
from harness.tracks.igr import exact as igr_exact

SWEEP = ("small-lr", "constant-lr")
# EGR with mu = h/4 for h = 0.2 and h = 0.5: each should move small-lr GD toward that larger-h run.
EGR_ARMS = ("egr[mu=0.05]", "egr[mu=0.125]")


def track_claims() -> list[Claim]:
    """The igr track's claims: two exact checks on a 2-parameter model, trends over the lr sweep, EGR."""
    return [
        exact(
            "GD is O(h)-close to the flow of E but O(h^2)-close to the flow of E + (h/4)‖∇E‖² (2-parameter model)",
            _backward_error_check,
            published="pilot: distance ratio 43.5 at h=0.01, 4.4 at h=0.1 (no paper number retrieved)",
        ),
        exact(
            "larger h ends at a flatter, more balanced minimum (2-parameter model)",
            _flat_minima_check,
            published="pilot: a^2+b^2 4.84 (flow) -> 2.98 (h=0.08)",
        ),
        trend(
            SWEEP,
            "lr",
            "grad_norm_sq",
            "decreasing",
            text="final ‖∇L‖² falls as the learning rate grows (equal physical time)",
            pool=True,  # small-lr is the sweep's smallest lr: one curve
        ),
        trend(
            SWEEP,
            "lr",
            "sharpness_0.05",
            "decreasing",
            text="sharpness (loss rise under weight noise) falls as the learning rate grows",
            pool=True,  # small-lr is the sweep's smallest lr: one curve
        ),
        trend(
            SWEEP,
            "lr",
            "test_accuracy",
            "increasing",
            text="test accuracy rises with the learning rate (paper: flat minima generalise)",
            pool=True,  # small-lr is the sweep's smallest lr: one curve
        ),
        *(
            paired_better(
                egr,
                "small-lr",
                metric,
                text=f"EGR ({egr}) at the small lr {verb} versus plain small-lr GD"
                + (" (Smith et al. 2021 report gains; no number retrieved)" if metric == "test_accuracy" else ""),
            )
            for egr in EGR_ARMS
            for metric, verb in (("grad_norm_sq", "lowers ‖∇L‖²"), ("test_accuracy", "raises test accuracy"))
        ),
    ]


def _backward_error_check() -> tuple[str, bool]:
    rows = igr_exact.backward_error()
    hs = [r.h for r in rows]
    p1 = igr_exact.loglog_slope(hs, [r.err_plain for r in rows])
    p2 = igr_exact.loglog_slope(hs, [r.err_modified for r in rows])
    ours = f"order {p1:.2f} (plain flow) vs {p2:.2f} (modified flow); ratio " + ", ".join(
        f"{r.ratio:.1f} at h={r.h:g}" for r in rows
    )
    return ours, abs(p1 - 1.0) < 0.2 and abs(p2 - 2.0) < 0.3


def _flat_minima_check() -> tuple[str, bool]:
    rows = igr_exact.flat_minima()
    sharp = [r.sharpness for r in rows]
    ours = "a^2+b^2: " + ", ".join(("flow" if r.h == 0 else f"h={r.h:g}") + f" {r.sharpness:.2f}" for r in rows)
    monotone = all(x > y for x, y in zip(sharp, sharp[1:]))
    balanced = all(x.imbalance > y.imbalance for x, y in zip(rows, rows[1:]))
    return ours, monotone and balanced
