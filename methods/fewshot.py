"""PET arms of the fewshot track (Schick & Schuetze 2021; Su 2020, kexue.fm 7764), and the in-context foil.

A method of the ``fewshot`` track is a recipe (``FewShotRecipe``, harness/tracks/fewshot/recipe.py): which objective,
which pattern, which verbalizer. ``pattern`` is a name (``p1``..``p5``, Su's five; ``review``,
``overall``, ``verdict``, ``attitude``, prompts whose label word comes last) or a template with one
mask ``__`` and one text slot ``{x}``; empty means the block's ``pattern`` setting. ``pos``/``neg``
are the label words (empty: the pattern's own, Su's 很/不 for his patterns). Both are validated when
the suite loads (pattern) and when the backbone's vocabulary is known (words).
"""

from __future__ import annotations

from harness.registry import method
from harness.tracks.fewshot.recipe import FewShotRecipe

_RATE = {"mlm_rate": (0.0, 0.5)}


def _recipe(pattern: str, pos: str, neg: str, **fields) -> FewShotRecipe:
    from harness.tracks.fewshot.pattern import parse_pattern

    if pattern:
        parse_pattern(pattern)  # a pattern without a mask fails here, with a one-line error
    return FewShotRecipe(fields.pop("kind", "pet"), pattern, (neg, pos), **fields)


@method("pet-zero", track="fewshot")
def pet_zero(pattern: str = "", pos: str = "", neg: str = "", calibrate: bool = False) -> FewShotRecipe:
    """Zero-shot PET: no training; the label whose word makes the filled pattern most likely (an MLM's
    score at the mask; a causal LM's log-likelihood of the whole filled sequence). ``calibrate``:
    contextual calibration with content-free inputs (Zhao et al. 2021; causal LMs)."""
    return _recipe(pattern, pos, neg, train=False, calibrate=calibrate)


@method("pet", track="fewshot", bounds=_RATE)
def pet(pattern: str = "", pos: str = "", neg: str = "", mlm_rate: float = 0.15) -> FewShotRecipe:
    """PET fine-tuning (Su's recipe): cross-entropy of the label word in the pattern (target = the
    label's word) plus a language-model loss on ``mlm_rate`` of the other positions (an MLM: BERT-style
    random masking; a causal LM: next-token loss at that share of positions), pooled."""
    return _recipe(pattern, pos, neg, train=True, mlm_rate=mlm_rate)


@method("pet-semi", track="fewshot", bounds={**_RATE, "unlabelled_ratio": (0.0, 16.0)})
def pet_semi(
    pattern: str = "", pos: str = "", neg: str = "", mlm_rate: float = 0.15, unlabelled_ratio: float = 1.0
) -> FewShotRecipe:
    """Semi-supervised PET: ``pet`` plus the language-model loss on unlabelled train texts (no
    pattern), ``unlabelled_ratio`` unlabelled texts per labelled text in every batch (Su: all MLM, 1:99 data)."""
    return _recipe(pattern, pos, neg, train=True, mlm_rate=mlm_rate, unlabelled_ratio=unlabelled_ratio)


@method("icl", track="fewshot", bounds={"demos": (1, 64)})
def icl(demos: int = 4, pattern: str = "", pos: str = "", neg: str = "", calibrate: bool = False) -> FewShotRecipe:
    """GPT-3-style in-context few-shot (causal LMs): ``demos`` class-balanced examples drawn from the
    seed's K labelled texts, each filled into the pattern with its label word, precede the test text;
    nothing is trained. The foil of Su's post ("must it be GPT-3?")."""
    return _recipe(pattern, pos, neg, kind="icl", train=False, demos=demos, calibrate=calibrate)


@method("full", track="fewshot")
def full() -> FewShotRecipe:
    """Supervised ceiling: the head fine-tuned on every train label (``full_steps`` steps; on a causal
    LM the first ``full_texts`` train texts, the same trained layers as ``head-finetune``)."""
    return FewShotRecipe("head", all_labels=True)
