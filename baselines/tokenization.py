"""Baseline of the tokenization track: the character-level BERT, continued with the same compute."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.tokenization.recipe import VocabRecipe


@method("char-bert", track="tokenization", baseline=True)
def char_bert() -> VocabRecipe:
    """Char BERT: one token per character (Google's Chinese BERT convention).

    Continued MLM on the char vocabulary for as many steps as the WoBERT arms get, so
    pretraining compute is equal."""
    return VocabRecipe("char")
