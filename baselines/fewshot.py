"""Baseline of the fewshot track: the conventional fine-tuned classifier on the same K texts."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.fewshot.recipe import FewShotRecipe


@method("head-finetune", track="fewshot", baseline=True)
def head_finetune() -> FewShotRecipe:
    """A new linear layer on a text's summary state, trained with cross-entropy on the K labelled texts.

    On an MLM: [CLS] state -> dropout -> linear, the whole encoder fine-tuned (Su's "about 88.93"
    conventional fine-tuning). On a causal LM: the last-token state of the block pattern's text (the
    sequence PET scores its label word after), training exactly the layers PET trains (the
    ``train_layers`` setting) for the same steps, so the only difference is the readout: a fresh
    linear head here, the pretrained output layer's label words in PET."""
    return FewShotRecipe("head")
