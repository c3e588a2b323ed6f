"""Claims of the weightreg track and the best-validation choice of each regulariser's coefficient."""

from __future__ import annotations

import math
from typing import Any

from harness.claims import Claim, exact, trend
from harness.tracks.weightreg import exact as ex
from harness.tracks.weightreg.protocol import FGSM_EPS, fgsm_name


def track_claims() -> list[Claim]:
    """Four exact rescaling checks; WEISSI against L2 and weight decay at best-valid coefficients."""
    none_published = "no published number retrieved (the paper's tables were not available)"
    return [
        exact(
            "rescaling layers by factors with product 1 (biases x running product) leaves the "
            "ReLU network's output unchanged",
            ex.output_check,
            published="exact identity",
        ),
        exact(
            "Su's per-layer bias scaling b_l *= gamma_l does NOT preserve the output when biases are non-zero",
            ex.su_bias_check,
            published="research-note pilot: max change 4.37",
        ),
        exact(
            "WEISSI is unchanged by the rescaling; L2 changes",
            ex.weissi_l2_check,
            published="research-note pilot: WEISSI 61.684518 -> 61.684518, L2 1598.7 -> 4897.2",
        ),
        exact(
            "the L2-minimal function-preserving rescaling equalises the layer norms",
            ex.balance_check,
            published="exact (AM-GM)",
        ),
        tuned_better(
            "weissi",
            "weight-decay",
            "test_accuracy",
            published=none_published,
            text="WEISSI >= weight decay on test accuracy (each at its best-valid coefficient)",
        ),
        *(
            tuned_better(
                "weissi",
                "weight-decay",
                fgsm_name(e),
                published=none_published,
                text=f"WEISSI >= weight decay on FGSM accuracy, eps={e:g} std (each at its best-valid coefficient)",
            )
            for e in FGSM_EPS[:2]
        ),
        tuned_better(
            "weissi",
            "l2",
            fgsm_name(FGSM_EPS[0]),
            published=none_published,
            text=f"WEISSI >= coupled L2 on FGSM accuracy, eps={FGSM_EPS[0]:g} std (best-valid coefficients)",
        ),
        tuned_better(
            "weissi",
            "none",
            "input_grad_norm",
            published="paper: WEISSI upper-bounds the input gradient (no number)",
            text="WEISSI lowers the input-gradient norm versus no regularisation (best-valid coefficient)",
        ),
        tuned_better(
            "l2",
            "weissi",
            "norm_imbalance",
            published="Su: L2 equalises layer norms, WEISSI is blind to their balance (no number)",
            text="L2 leaves the layer norms more balanced than WEISSI (max/min, best-valid coefficients)",
        ),
        trend(
            ["l2"],
            "lam",
            "norm_imbalance",
            "decreasing",
            published="Su: L2 pushes layer norms to be equal (no number)",
            text="stronger L2 equalises the layer norms (max/min falls)",
        ),
    ]


def best_valid_selector(table: Any, method_name: str, dataset: str, select: str = "valid_accuracy") -> str | None:
    """The selector (grid point) of ``method_name`` with the highest mean ``select`` on ``dataset``.

    Only grid points whose cells all finished ``ok`` compete (a coefficient that diverges on some
    seed is not a usable choice). Test metrics play no part in the choice.
    """
    if not len(table) or f"m.{select}" not in table:
        return None
    t = table[(table["dataset"] == dataset) & (table["method_name"] == method_name)]
    best, best_score = None, -math.inf
    for label, rows in t.groupby("method"):
        if (rows["status"] != "ok").any():
            continue
        score = float(rows[f"m.{select}"].mean())
        if score > best_score:
            best, best_score = str(label), score
    return best


def tuned_better(
    a: str, b: str, metric: str, published: str | None = None, text: str | None = None, select: str = "valid_accuracy"
) -> Any:
    """Claim: method ``a`` beats ``b`` on ``metric``, each at its best-``select`` grid point per
    dataset, paired over seeds (the engine's paired test on the two chosen selectors)."""
    from harness.claims import NA, Claim, ClaimResult, paired_better

    text = text or f"{a} beats {b} on {metric} (best-{select} coefficients)"

    def check(table: Any, trk: Any) -> list[ClaimResult]:
        out: list[ClaimResult] = []
        for ds in sorted(set(table["dataset"])) if len(table) else []:
            sa, sb = best_valid_selector(table, a, ds, select), best_valid_selector(table, b, ds, select)
            if sa is None or sb is None:
                continue
            rows = paired_better(sa, sb, metric, dataset=ds, published=published, text=text).check(table, trk)
            for r in rows:
                r.ours = f"{sa} vs {sb}: {r.ours}"
            out += rows
        return out or [ClaimResult(text, published or "", "no results", NA)]

    return Claim(text, check, published)
