"""Claims of the weightreg track and the best-validation choice of each regulariser's coefficient."""

from __future__ import annotations

from harness.claims import Claim, exact, trend, tuned_better
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
