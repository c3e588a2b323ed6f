"""Claims of the igr track: the backward-error checks (exact), and on the MLPs the lr trends and the EGR
arm, each tested only on arms that reached their block's target train loss.

Every row names the protocol it was tested under (``describe_protocol``). Trend claims leave the
underfit arms out and read ``untestable`` when fewer than ``MIN_LRS`` lr values remain; the EGR
claims need both arms (EGR and plain training at the smallest lr) to have reached the target.
The GD claims are Barrett & Dherin's (2021); the SGD ones Smith, Dherin, Barrett & De's (2021).
No paper number was retrieved for either (research notes), so no claim carries a published value.
"""

from __future__ import annotations

import math
from typing import Any

from harness.claims import (
    ALPHA,
    Claim,
    Evidence,
    RowSample,
    SmallestEffect,
    descriptive,
    exact,
    fmt,
    headline,
    min_runs,
    requires,
    superiority,
    trend,
)
from harness.claims.preconditions import check_all
from harness.claims.select import dataset_names
from harness.stats import paired_test
from harness.tracks.igr.blocks import (
    SWEEP,
    EGRAtSmallestLR,
    SweepEnd,
    block_settings,
    describe_protocol,
    sweep_lrs,
    sweep_rows,
    underfit,
)
from harness.tracks.igr.exact import backward_error, flat_minima, loglog_slope

MIN_LRS = 3  # a trend over fewer lr values cannot tell a monotone trend from a step
SOURCE = {"gd": "full-batch GD; Barrett & Dherin 2021", "sgd": "mini-batch SGD; Smith et al. 2021"}
MU = "mu = h_max/4, so mu·Σ‖∇L‖² = (h_max/4)‖∇L‖² with the sum over all parameters"
# Smallest effects of interest, in each metric's units, for the lr trends (the change across the grid)
# and the EGR arm (its move at the smallest lr). Declared before the seeds that test them; no paper
# number was retrieved, so none is bounded by a published effect.
SMALLEST_EFFECT = {
    "test_accuracy": SmallestEffect(0.01, "one point of test accuracy: the margin the other tracks use"),
    "lambda_max": SmallestEffect(
        1.0, "1 in λ_max: under 3% of the span of the edge of stability 2/lr over each swept lr grid (37.5 or more)"
    ),
    "grad_norm_sq": SmallestEffect(
        1e-3, "1e-3 in ‖∇L‖² at the stop: at lrs of at most 0.16 the implicit regulariser (h/4)‖∇L‖² moves < 4e-5"
    ),
    "sharpness_0.05": SmallestEffect(0.01, "0.01 nats of loss rise under σ=0.05 noise: a tenth of the GD target loss"),
}
__all__ = ["SWEEP", "track_claims"]


def track_claims() -> list[Claim]:
    """Two exact checks on a 2-parameter model, then per optimizer the lr trends and the EGR arm."""
    out = [
        exact(
            "GD is O(h)-close to the flow of E but O(h^2)-close to the flow of E + (h/4)‖∇E‖² (2-parameter model)",
            _backward_error_check,
            note="pilot: distance ratio 43.5 at h=0.01, 4.4 at h=0.1 (no paper number retrieved)",
        ),
        exact(
            "larger h ends at a flatter, more balanced minimum (2-parameter model)",
            _flat_minima_check,
            note="pilot: a^2+b^2 4.84 (flow) -> 2.98 (h=0.08)",
        ),
        descriptive(
            "λ_max of the training-loss Hessian at the end against the edge of stability 2/lr (Cohen et al. 2021)",
            _edge_rows,
            metric="lambda_max",
        ),
    ]
    for opt in ("gd", "sgd"):
        src = SOURCE[opt]
        out += [
            converged_trend(opt, "grad_norm_sq", "decreasing", f"final ‖∇L‖² falls as the lr grows ({src})"),
            converged_trend(opt, "lambda_max", "decreasing", f"λ_max falls as the lr grows ({src})"),
            _headline_if(
                opt == "gd",
                converged_trend(opt, "test_accuracy", "increasing", f"test accuracy rises with the lr ({src})"),
            ),
            converged_trend(
                opt, "sharpness_0.05", "decreasing", f"noise sharpness (secondary proxy) falls as the lr grows ({src})"
            ),
        ]
        out += [
            egr_toward(
                opt, m, f"EGR at the smallest lr moves {label} toward the largest lr that reached the target ({src})"
            )
            for m, label in (("grad_norm_sq", "‖∇L‖²"), ("lambda_max", "λ_max"), ("test_accuracy", "test accuracy"))
        ]
        out.append(egr_claim(opt, "test_accuracy", f"EGR at the smallest lr raises test accuracy ({src})"))
    return out


def _headline_if(flag: bool, claim: Claim) -> Claim:
    """The paper's deep-net claim (larger lr, better test accuracy under full-batch GD) heads the track."""
    return headline(claim) if flag else claim


def _blocks(table: Any, optimizer: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(label, rows, settings) of each block run with ``optimizer`` that has an lr sweep."""
    out = []
    for ds in sorted(set(table["dataset"])) if len(table) else []:
        t = table[table["dataset"] == ds]
        s = block_settings(t)
        if s["optimizer"] == optimizer and len(sweep_rows(t)):
            out.append((ds, t, s))
    return out


def converged_trend(optimizer: str, metric: str, direction: str, text: str) -> Claim:
    """``trend`` over the lr sweep (small-lr + constant-lr pooled) with the underfit arms left out."""
    inner = trend(SWEEP, "lr", metric, direction, pool=True, text=text, smallest_effect=SMALLEST_EFFECT[metric])

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for ds, t, s in _blocks(table, optimizer):
            bad = underfit(sweep_rows(t))
            kept = t[~t["method"].isin(list(bad))]
            lrs = sweep_lrs(kept)
            left_out = "; ".join(f"{k} underfit, left out: {v}" for k, v in sorted(bad.items()))
            if "m.reached_target" not in t:
                left_out = "no target loss declared: underfitting not judged"
            head = f"[{describe_protocol(s)}]"
            if len(lrs) < MIN_LRS:
                why = f"only {len(lrs)} lr value(s) reached the target (a trend needs {MIN_LRS})"
                out.append(
                    Evidence(ds, f"{head} {left_out}", untestable=why, dataset_names={str(t["dataset_name"].iloc[0])})
                )
                continue
            for ev in inner.rows(kept, track):
                ev.ours = f"{head} {ev.ours}" + (f"; {left_out}" if left_out else "")
                out.append(ev)
        return out

    return Claim(text, rows, "trend", metric, direction, smallest_effect=SMALLEST_EFFECT[metric])


def _arms(optimizer: str) -> tuple[Any, Any, Any]:
    return EGRAtSmallestLR(optimizer), SweepEnd("smallest", optimizer), SweepEnd("largest", optimizer)


PRE = (min_runs(2), requires("reached_target", "==", 1, "underfit: an arm ended above its block's target loss"))


def egr_claim(optimizer: str, metric: str, text: str) -> Claim:
    """EGR at the smallest lr beats plain training at that lr on ``metric`` (paired over seeds)."""
    egr, small, _ = _arms(optimizer)
    inner = superiority(
        egr, small, metric, text=text, preconditions=PRE, note=MU, smallest_effect=SMALLEST_EFFECT[metric]
    )

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for _ds, t, s in _blocks(table, optimizer):
            for ev in inner.rows(t, track):
                ev.ours = f"[{describe_protocol(s)}] {ev.ours}"
                out.append(ev)
        return out

    return Claim(text, rows, "superiority", metric, "", None, MU, PRE, smallest_effect=SMALLEST_EFFECT[metric])


def egr_toward(optimizer: str, metric: str, text: str) -> Claim:
    """EGR (mu = h_max/4) at the smallest lr moves ``metric`` the way the largest converged lr moves it.

    The direction is the largest lr's paired difference from the smallest; when that is not
    significant (p >= 0.05) there is no direction to move toward and the row is ``untestable``.
    The row's values are EGR - smallest lr per seed, signed so that positive moves toward the
    largest lr; the rule tests them against 0 and against the metric's smallest effect. The share of
    the gap EGR covers is reported."""
    egr, small, large = _arms(optimizer)

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for ds, t, s in _blocks(table, optimizer):
            by_arm = {a.label: a.rows(t) for a in (egr, small, large)}
            if any(not len(r) for r in by_arm.values()):
                continue  # the block has no EGR arm
            ve, vs, vl = (a.values(t, metric)[0] for a in (egr, small, large))
            ref, test = paired_test(vl, vs), paired_test(ve, vs)
            name = by_arm[egr.label]["method"].iloc[0]
            ours = (
                f"[{describe_protocol(s)}] smallest lr {small.lr(t):g}: {_mean(vs)}; {name}:"
                f" {_mean(ve)} (delta {fmt(test.delta)} [{fmt(test.ci_lo)}, {fmt(test.ci_hi)}], n={test.n});"
                f" largest lr {large.lr(t):g}: {_mean(vl)} (delta {fmt(ref.delta)}, p={fmt(ref.p)})"
            )
            if ref.delta and ref.delta == ref.delta and test.n:
                ours += f"; EGR covers {100 * test.delta / ref.delta:.0f}% of the smallest-to-largest-lr gap"
            reason = check_all(PRE, by_arm)
            if not reason and not ref.p < ALPHA:
                reason = f"the largest lr does not move {metric} (p={fmt(ref.p)}): no direction to move toward"
            toward = 1.0 if ref.delta > 0 else -1.0
            sample = RowSample(
                {s: toward * (ve[s] - vs[s]) for s in sorted(set(ve) & set(vs))},
                "superiority",
                smallest_effect=SMALLEST_EFFECT[metric].value,
                keys=tuple(sorted({k for r in by_arm.values() for k in r["key"]})) if "key" in t else (),
                units=f"Δ {metric} (EGR - smallest lr; positive: toward the largest lr)",
            )
            out.append(Evidence(ds, ours, untestable=reason, dataset_names=dataset_names(t), sample=sample))
        return out

    return Claim(text, rows, "superiority", metric, "", None, MU, PRE, smallest_effect=SMALLEST_EFFECT[metric])


def _mean(values: dict[int, float]) -> str:
    return fmt(sum(values.values()) / len(values)) if values else "nan"


def _edge_rows(table: Any) -> list[tuple[str, str]]:
    """Per block: mean lambda_max, 2/lr and their ratio (< 1: below the edge) for each lr of the sweep."""
    out = []
    for opt in ("gd", "sgd"):
        for ds, t, s in _blocks(table, opt):
            rows = sweep_rows(t)
            if "m.lambda_max" not in rows:
                continue
            bad = underfit(rows)
            parts = [f"λ_max at init {_init_lambda(t):.2g}"]
            for lr in sweep_lrs(t):
                r = rows[(rows["p.lr"].astype(float) - lr).abs() < 1e-12 * max(1, lr)]
                lam = r["m.lambda_max"].astype(float).mean()
                flag = " underfit" if any(m in bad for m in set(r["method"])) else ""
                parts.append(f"lr={lr:g}: λ_max {lam:.3g}, 2/lr {2 / lr:.3g}, lr·λ_max/2 {lam * lr / 2:.2f}{flag}")
            out.append((ds, f"[{describe_protocol(s)}] " + "; ".join(parts)))
    return out


def _init_lambda(t: Any) -> float:
    """The block's mean lambda_max at initialisation (recorded in the baseline's cells; shared by all arms)."""
    if "m.lambda_max_init" not in t:
        return math.nan
    vals = t["m.lambda_max_init"].astype(float).dropna()
    return float(vals.mean()) if len(vals) else math.nan


def _backward_error_check() -> tuple[str, bool]:
    rows = backward_error()
    hs = [r.h for r in rows]
    p1 = loglog_slope(hs, [r.err_plain for r in rows])
    p2 = loglog_slope(hs, [r.err_modified for r in rows])
    ours = f"order {p1:.2f} (plain flow) vs {p2:.2f} (modified flow); ratio " + ", ".join(
        f"{r.ratio:.1f} at h={r.h:g}" for r in rows
    )
    return ours, abs(p1 - 1.0) < 0.2 and abs(p2 - 2.0) < 0.3


def _flat_minima_check() -> tuple[str, bool]:
    rows = flat_minima()
    sharp = [r.sharpness for r in rows]
    ours = "a^2+b^2: " + ", ".join(("flow" if r.h == 0 else f"h={r.h:g}") + f" {r.sharpness:.2f}" for r in rows)
    monotone = all(x > y for x, y in zip(sharp, sharp[1:]))
    balanced = all(x.imbalance > y.imbalance for x, y in zip(rows, rows[1:]))
    return ours, monotone and balanced
