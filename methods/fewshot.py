"""PET arms of the fewshot track (Schick & Schuetze 2021; Su 2020, kexue.fm 7764).

A method of the ``fewshot`` track is a recipe (``FewShotRecipe``, harness/tracks/fewshot/recipe.py): which objective,
which pattern, which verbalizer. ``pattern`` is a name (``p1``..``p5``, Su's five) or a template
with one mask ``__`` and one text slot ``{x}``; ``pos``/``neg`` are the verbalizer tokens. Both are
validated when the suite loads (pattern) and when the backbone's vocabulary is known (tokens).
"""

from __future__ import annotations

from harness.registry import method
from harness.tracks.fewshot.recipe import FewShotRecipe

_RATE = {"mlm_rate": (0.0, 0.5)}


def _recipe(
    pattern: str, pos: str, neg: str, train: bool, mlm_rate: float = 0.0, unlabelled_ratio: float = 0.0
) -> FewShotRecipe:
    from harness.tracks.fewshot.pattern import parse_pattern

    parse_pattern(pattern)  # a pattern without a mask fails here, with a one-line error
    return FewShotRecipe("pet", pattern, (neg, pos), train=train, mlm_rate=mlm_rate, unlabelled_ratio=unlabelled_ratio)


@method("pet-zero", track="fewshot")
def pet_zero(pattern: str = "p1", pos: str = "很", neg: str = "不") -> FewShotRecipe:
    """Zero-shot PET: no training; the label is the verbalizer token (很 positive, 不 negative)
    with the higher MLM score at the pattern's mask."""
    return _recipe(pattern, pos, neg, train=False)


@method("pet", track="fewshot", bounds=_RATE)
def pet(pattern: str = "p1", pos: str = "很", neg: str = "不", mlm_rate: float = 0.15) -> FewShotRecipe:
    """PET fine-tuning (Su's recipe): MLM cross-entropy on the pattern mask (target = the label's
    verbalizer token) plus BERT-style random masking of ``mlm_rate`` of the other tokens, pooled."""
    return _recipe(pattern, pos, neg, train=True, mlm_rate=mlm_rate)


@method("pet-semi", track="fewshot", bounds={**_RATE, "unlabelled_ratio": (0.0, 16.0)})
def pet_semi(
    pattern: str = "p1", pos: str = "很", neg: str = "不", mlm_rate: float = 0.15, unlabelled_ratio: float = 1.0
) -> FewShotRecipe:
    """Semi-supervised PET: ``pet`` plus random-masking MLM on unlabelled train texts (no pattern),
    ``unlabelled_ratio`` unlabelled texts per labelled text in every batch (Su: all MLM, 1:99 data)."""
    return _recipe(pattern, pos, neg, train=True, mlm_rate=mlm_rate, unlabelled_ratio=unlabelled_ratio)


@method("full", track="fewshot")
def full() -> FewShotRecipe:
    """Supervised ceiling: a [CLS] head fine-tuned on every train label (``full_steps`` steps)."""
    return FewShotRecipe("head", all_labels=True)
