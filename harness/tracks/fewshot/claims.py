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

Su's five claims are about a pretrained masked LM. Where the results hold no masked-LM block (the quick
suite since issue 29: its tiny from-scratch char MLM sat at chance and was retired), each of them gets
one ``untestable`` row that says so, beside its causal-LM rows; the paper suite's hub-BERT block tests them.
"""

from __future__ import annotations

from typing import Any

from harness.claims import (
    Claim,
    Evidence,
    SmallestEffect,
    above_chance,
    headline,
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

MASKED_LM_ROW = "masked LM (paper suite: bert:hfl/chinese-roberta-wwm-ext)"
MASKED_LM_REASON = (
    "Su's claim is about a pretrained masked LM (his RoBERTa-wwm-ext); these results hold no masked-LM block: the "
    "quick suite retired its tiny from-scratch char MLM (it sat at chance: PET 0.53-0.56, zero-shot one label for "
    "every text; issue 29) and a released BERT needs the hub; the paper suite's bert:hfl/chinese-roberta-wwm-ext "
    "block tests it"
)
BOTH_LABELS = requires("predicted_labels", ">=", 2, "the backbone predicts one label for every text")
M = NONINFERIORITY_MARGIN
ONE_POINT = SmallestEffect(0.01, "one point of accuracy: what a reader choosing a pattern or a method would act on")


def masked_lm_datasets(table: Any) -> set[str]:
    """Dataset labels of masked-LM blocks: their cells report no ``subset_accuracy`` (every causal-LM cell
    does, ``lm.summary``), a recorded metric rather than a parse of the settings label."""
    if not len(table):
        return set()
    if "m.subset_accuracy" not in table:
        return set(table["dataset"])
    return set(table[table["m.subset_accuracy"].isna()]["dataset"])


def with_masked_lm_row(claim: Claim) -> Claim:
    """``claim`` plus, where the results hold no masked-LM block, one ``untestable`` row that says why
    (Su's MLM claims keep a row at quick scale, beside their causal-LM rows)."""
    rows = claim.rows

    def wrapped(table: Any, track: Any) -> list[Evidence]:
        out = rows(table, track)
        if not masked_lm_datasets(table):
            out.append(Evidence(MASKED_LM_ROW, "", untestable=MASKED_LM_REASON))
        return out

    claim.rows = wrapped
    return claim


def track_claims() -> list[Claim]:
    """Su's five claims (each also with a masked-LM row, ``with_masked_lm_row``), the post's in-context point
    and the all-labels ceiling."""
    su = with_masked_lm_row
    return [
        su(
            above_chance(
                "pet-zero[pattern=p1]",
                "test_accuracy",
                0.5,
                text="with zero labels, Su's prefix pattern P1 (__满意。+text, 很/不) classifies well above chance",
                published=SU_ZERO_P1,
                note=BACKBONES_NOTE,
                preconditions=(BOTH_LABELS,),
            )
        ),
        su(
            proportions_better(
                "pet-zero[pattern=p1]",
                "pet-zero[pattern=p2]",
                "test_accuracy",
                text="zero-shot, the prefix pattern P1 beats the suffix pattern P2 (text+__满意。)",
                published=SU_PREFIX_SUFFIX,
                note="a causal LM reads the label word of P1 before the text: it may disagree",
                preconditions=(BOTH_LABELS,),
                smallest_effect=ONE_POINT,
            )
        ),
        headline(  # the post's point most readers come for (PET against the usual fine-tuned head)
            su(
                noninferiority(
                    "pet",
                    "head-finetune",
                    "test_accuracy",
                    M,
                    text=f"with few labels (Su: ~1%) pattern fine-tuning (PET) is not worse than a fine-tuned head "
                    f"(margin {M:g} accuracy)",
                    published=SU_PET_HEAD,
                    note="causal LM: each arm trains the top layers and lr chosen for it on validation (quick.toml); "
                    "the head reads the same patterned text",
                )
            ),
        ),
        su(
            noninferiority(
                "pet-semi",
                "pet",
                "test_accuracy",
                M,
                text=f"adding the language-model loss on unlabelled train texts (semi-supervised) is at least as good "
                f"as PET alone (margin {M:g})",
                published=SU_SEMI,
            )
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
        su(
            paired_better(
                "pet",
                "pet[pattern=p2]",
                "test_accuracy",
                text="after few-shot fine-tuning the block's pattern (Su's P1 on the masked-LM blocks) still beats P2",
                published=SU_FT_PREFIX_SUFFIX,
                smallest_effect=ONE_POINT,
            )
        ),
        paired_better(
            "full",
            "pet",
            "test_accuracy",
            text="all labels (the supervised ceiling) beat PET with K labels",
            note="causal LM: the ceiling trains its own capacity (layers, lr, steps) chosen on validation",
            smallest_effect=ONE_POINT,
        ),
    ]
