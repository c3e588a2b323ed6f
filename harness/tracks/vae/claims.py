"""Claims of the vae track (Su 7725 has no numbers: every claim is directional)."""

from __future__ import annotations

import math
from typing import Any

from harness.claims import INCONCLUSIVE, NA, NOT_REPRODUCED, REPRODUCED, Claim, ClaimResult, paired_better

REGULARITY = ("mmd", "code_cov_err", "code_mean", "prior_confidence")


def track_claims() -> list[Claim]:
    """Directional claims from Su 7725: VAE codes nearer N(0, I), the AE reconstructs best, simple ~ KL."""
    claims = []
    for vae in ("vae-kl", "vae-simple"):
        claims.append(paired_better(vae, "ae", "mmd", text=f"{vae} codes are closer to N(0, I) than the AE's (MMD)"))
        claims.append(
            paired_better(vae, "ae", "code_cov_err", text=f"{vae} code covariance is closer to I than the AE's")
        )
        claims.append(
            paired_better(
                vae,
                "ae",
                "prior_confidence",
                text=f"{vae}: decoded N(0, I) samples look more like digits than the AE's",
            )
        )
    claims.append(paired_better("ae", "vae-kl", "recon_mse", text="the AE reconstructs best (vs VAE-KL)"))
    claims.append(
        paired_better(
            "vae-kl",
            "ae",
            "interp_path_ratio",
            text="VAE-KL interpolations are smoother (shorter pixel paths) than the AE's",
        )
    )
    claims.append(
        Claim(
            "the simple regulariser ||mu||^2 + ||sigma-1||^2 behaves like the KL term",
            _simple_like_kl,
            published='Su: "already very close to the standard VAE" (no numbers)',
        )
    )
    return claims


def _simple_like_kl(table: Any, track: Any) -> list[ClaimResult]:
    """On each dataset: for every regularity metric, VAE-simple's mean is nearer (in log ratio) to
    VAE-KL's than to the AE's. All metrics agree -> reproduced; all disagree -> not; mixed -> inconclusive."""
    text = "the simple regulariser ||mu||^2 + ||sigma-1||^2 behaves like the KL term"
    pub = 'Su: "already very close to the standard VAE" (no numbers)'
    out = []
    if not len(table):
        return [ClaimResult(text, pub, "no results", NA)]
    for ds in sorted(set(table["dataset"])):
        t = table[(table["dataset"] == ds) & (table["status"] == "ok")]
        means = {m: t[t["method_name"] == m] for m in ("ae", "vae-kl", "vae-simple")}
        if any(len(v) == 0 for v in means.values()):
            out.append(ClaimResult(text, pub, "needs ae, vae-kl and vae-simple results", NA, ds))
            continue
        votes, parts = [], []
        for metric in REGULARITY:
            col = f"m.{metric}"
            a, k, sm = (float(means[m][col].mean()) for m in ("ae", "vae-kl", "vae-simple"))
            if min(a, k, sm) <= 0 or any(math.isnan(v) for v in (a, k, sm)):
                continue
            near_kl = abs(math.log(sm / k)) < abs(math.log(sm / a))
            votes.append(near_kl)
            parts.append(f"{metric}: simple {sm:.3g} / KL {k:.3g} / AE {a:.3g}")
        if not votes:
            out.append(ClaimResult(text, pub, "no comparable metrics", NA, ds))
            continue
        verdict = REPRODUCED if all(votes) else NOT_REPRODUCED if not any(votes) else INCONCLUSIVE
        out.append(
            ClaimResult(text, pub, f"{sum(votes)}/{len(votes)} metrics nearer KL; " + "; ".join(parts), verdict, ds)
        )
    return out
