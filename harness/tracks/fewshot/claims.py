"""Claim checks and the K-vs-accuracy figure of the fewshot track.

Why not only ``paired_better``: zero-shot PET trains nothing, so every seed gives the same
accuracy and a paired test over seeds has no variance to work with. For those claims the unit of
evidence is the test text: a binomial test against chance, and a two-proportion z-test between
patterns (unpaired, hence conservative: the two patterns see the same texts).
"""

from __future__ import annotations

from harness.claims import Claim, above_chance, paired_better, proportions_better
from harness.tracks.fewshot.constants import (
    SU_FT_PREFIX_SUFFIX,
    SU_PET_HEAD,
    SU_PREFIX_SUFFIX,
    SU_SEMI,
    SU_ZERO_P1,
    TINY,
)


def track_claims() -> list[Claim]:
    """Su's PET claims (kexue.fm 7764) as the fewshot track checks them."""
    return [
        above_chance(
            "pet-zero",
            "test_accuracy",
            0.5,
            text="a prefix pattern (P1) classifies with zero labels well above chance." + TINY,
            published=SU_ZERO_P1,
        ),
        proportions_better(
            "pet-zero",
            "pet-zero[pattern=p2]",
            "test_accuracy",
            text="zero-shot, the prefix pattern P1 beats the suffix pattern P2",
            published=SU_PREFIX_SUFFIX,
        ),
        paired_better(
            "pet",
            "head-finetune",
            "test_accuracy",
            text="pattern fine-tuning (PET, P1) beats a fine-tuned [CLS] head with few labels." + TINY,
            published=SU_PET_HEAD,
        ),
        paired_better(
            "pet-semi",
            "pet",
            "test_accuracy",
            text="adding the MLM loss on unlabelled train texts (semi-supervised) beats PET alone",
            published=SU_SEMI,
        ),
        paired_better(
            "pet",
            "pet[pattern=p2]",
            "test_accuracy",
            text="after few-shot fine-tuning the prefix pattern P1 still beats the suffix P2",
            published=SU_FT_PREFIX_SUFFIX,
        ),
        paired_better(
            "full", "pet", "test_accuracy", text="all labels (the supervised ceiling) beat PET with K labels"
        ),
    ]
