"""Claims of the vae track (Su 7725 has no numbers: every claim is directional or a declared band)."""

from __future__ import annotations

import math

from harness.claims import Claim, SmallestEffect, equivalence, headline, superiority

SU_SIMPLE = 'Su 7725: the simple regulariser is "already very close to the standard VAE" (no number)'
# Declared with the claim (Su gives no number), from each metric's scale alone: "close" means within a
# factor of 2 for the code norms (a positive scale, read on the log scale), within 0.02 for MMD^2 (an
# unbiased estimate that can be <= 0, so no ratio; with a kernel bounded by 1 MMD^2 lies in [0, 2], and
# 0.02 is 1% of that range) and within 0.05 for the classifier's confidence on decoded prior samples (a
# probability: five percentage points).
CODE_BAND = math.log(2.0)
MMD_BAND = 0.02
CONFIDENCE_BAND = 0.05
# Smallest effects of interest of the directional claims, in each metric's units (Su gives no number).
SMALLEST_EFFECT = {
    "mmd": SmallestEffect(MMD_BAND, "0.02 in MMD^2: the band of the simple-vs-KL claim"),
    "code_cov_err": SmallestEffect(0.5, "0.5 in ||Cov - I||_F: half a unit of covariance error"),
    "prior_confidence": SmallestEffect(CONFIDENCE_BAND, "0.05 in classifier confidence: the band of simple-vs-KL"),
    "recon_mse": SmallestEffect(
        1e-3, "1e-3 per-pixel MSE on pixels in [0, 1]: a root-mean-square change of 0.032, ~8 of 255 grey levels"
    ),
    "interp_path_ratio": SmallestEffect(0.05, "0.05 in path length / straight-line length (1 = straight)"),
}


def track_claims() -> list[Claim]:
    """Directional claims from Su 7725: VAE codes nearer N(0, I), the AE reconstructs best, simple ~ KL."""
    claims = []
    for vae in ("vae-kl", "vae-simple"):
        mmd = superiority(
            vae,
            "ae",
            "mmd",
            text=f"{vae} codes are closer to N(0, I) than the AE's (MMD)",
            smallest_effect=SMALLEST_EFFECT["mmd"],
        )
        claims.append(headline(mmd) if vae == "vae-kl" else mmd)
        claims.append(
            superiority(
                vae,
                "ae",
                "code_cov_err",
                text=f"{vae} code covariance is closer to I than the AE's",
                smallest_effect=SMALLEST_EFFECT["code_cov_err"],
            )
        )
        claims.append(
            superiority(
                vae,
                "ae",
                "prior_confidence",
                text=f"{vae}: decoded N(0, I) samples look more like digits than the AE's",
                smallest_effect=SMALLEST_EFFECT["prior_confidence"],
            )
        )
    claims.append(
        superiority(
            "ae",
            "vae-kl",
            "recon_mse",
            text="the AE reconstructs best (vs VAE-KL)",
            smallest_effect=SMALLEST_EFFECT["recon_mse"],
        )
    )
    claims.append(
        superiority(
            "vae-kl",
            "ae",
            "interp_path_ratio",
            text="VAE-KL interpolations are smoother (shorter pixel paths) than the AE's",
            smallest_effect=SMALLEST_EFFECT["interp_path_ratio"],
        )
    )
    for metric, what in (("code_cov_err", "||Cov - I||"), ("code_mean", "||mean code||")):
        claims.append(
            equivalence(
                "vae-simple",
                "vae-kl",
                metric,
                CODE_BAND,
                log_scale=True,
                text=f"the simple regulariser ||mu||^2 + ||sigma-1||^2 behaves like the KL term: {what} within x2",
                note=SU_SIMPLE,
            )
        )
    for metric, band, what in (
        ("mmd", MMD_BAND, "MMD^2 to N(0, I)"),
        ("prior_confidence", CONFIDENCE_BAND, "prior-sample confidence"),
    ):
        claims.append(
            equivalence(
                "vae-simple",
                "vae-kl",
                metric,
                band,
                text=f"the simple regulariser behaves like the KL term: {what} within {band:g}",
                note=SU_SIMPLE,
            )
        )
    return claims
