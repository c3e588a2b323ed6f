"""Su's PET claims (kexue.fm 7764) and the post's own point, as the fewshot track checks them.

Why not only paired tests over seeds: zero-shot PET trains nothing, so every seed gives the same
accuracy and a paired test has no variance to work with. For those claims the unit of evidence is
the test text: a binomial test against chance, and between patterns McNemar's exact test on the
texts both scored (paired per text, from the cells' prediction files; results without them fall
back to an unpaired two-proportion z-test, labelled in the row). A zero-shot arm that predicts
one label for every text reads ``untestable`` (``predicted_labels``): its accuracy is the class
share, not a reading of the pattern.

"Not worse" and "at least as good" are non-inferiority claims with the margin declared here
(``NONINFERIORITY_MARGIN`` accuracy), tested paired over seeds. Method selectors mean the block's
pattern (``pattern`` setting: Su's P1 on the masked-LM blocks, the validation-chosen prompt on the
causal-LM blocks) unless they name one.
"""

from __future__ import annotations

from harness.claims import (
    Claim,
    SmallestEffect,
    above_chance,
    min_runs,
    noninferiority,
    paired_better,
    proportions_better,
    requires,
)
from harness.tracks.fewshot.constants import (
    BACKBONES_NOTE,
    NONINFERIORITY_MARGIN,
    SU_FT_PREFIX_SUFFIX,
    SU_PET_HEAD,
    SU_PREFIX_SUFFIX,
    SU_SEMI,
    SU_ZERO_P1,
)

BOTH_LABELS = requires("predicted_labels", ">=", 2, "the backbone predicts one label for every text")
M = NONINFERIORITY_MARGIN
ONE_POINT = SmallestEffect(0.01, "one point of accuracy: what a reader choosing a pattern or a method would act on")


def track_claims() -> list[Claim]:
    return [
        above_chance(
            "pet-zero[pattern=p1]",
            "test_accuracy",
            0.5,
            text="with zero labels, Su's prefix pattern P1 (__满意。+text, 很/不) classifies well above chance",
            published=SU_ZERO_P1,
            note=BACKBONES_NOTE,
            preconditions=(BOTH_LABELS,),
        ),
        proportions_better(
            "pet-zero[pattern=p1]",
            "pet-zero[pattern=p2]",
            "test_accuracy",
            text="zero-shot, the prefix pattern P1 beats the suffix pattern P2 (text+__满意。)",
            published=SU_PREFIX_SUFFIX,
            note="a causal LM reads the label word of P1 before the text: it may disagree",
            preconditions=(BOTH_LABELS,),
            smallest_effect=ONE_POINT,
        ),
        noninferiority(
            "pet",
            "head-finetune",
            "test_accuracy",
            M,
            text=f"with few labels (Su: ~1%) pattern fine-tuning (PET) is not worse than a fine-tuned head "
            f"(margin {M:g} accuracy)",
            published=SU_PET_HEAD,
            note="causal LM: both train the same top layers for the same steps; the head reads the same patterned text",
        ),
        noninferiority(
            "pet-semi",
            "pet",
            "test_accuracy",
            M,
            text=f"adding the language-model loss on unlabelled train texts (semi-supervised) is at least as good "
            f"as PET alone (margin {M:g})",
            published=SU_SEMI,
        ),
        noninferiority(
            "pet",
            "icl",
            "subset_accuracy",
            M,
            text=f"a small LM tuned with PET on K labels is at least as good as in-context few-shot of the same LM "
            f"with 4 of those labels as demonstrations (same test texts; margin {M:g})",
            note="Su's post makes this point ('must it be GPT-3?') without a number",
            preconditions=(min_runs(2),),
        ),
        noninferiority(
            "pet",
            "icl[demos=8]",
            "subset_accuracy",
            M,
            text=f"... and with 8 demonstrations (margin {M:g})",
            note="Su's post makes this point without a number",
        ),
        paired_better(
            "pet",
            "pet[pattern=p2]",
            "test_accuracy",
            text="after few-shot fine-tuning the block's pattern (Su's P1 on the masked-LM blocks) still beats P2",
            published=SU_FT_PREFIX_SUFFIX,
            smallest_effect=ONE_POINT,
        ),
        paired_better(
            "full",
            "pet",
            "test_accuracy",
            text="all labels (the supervised ceiling) beat PET with K labels",
            smallest_effect=ONE_POINT,
        ),
    ]
