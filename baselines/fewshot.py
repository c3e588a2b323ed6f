"""Baseline of the fewshot track: the conventional fine-tuned classifier on the same K texts."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.fewshot.recipe import FewShotRecipe


@method("head-finetune", track="fewshot", baseline=True)
def head_finetune() -> FewShotRecipe:
    """[CLS] state -> dropout -> a new linear layer, the whole encoder fine-tuned with cross-entropy
    on the K labelled texts (Su's "about 88.93" conventional fine-tuning result)."""
    return FewShotRecipe("head")
