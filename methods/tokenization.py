"""WoBERT (Su 2020): a word-level vocabulary for a Chinese BERT, continued from a char BERT.

A method of the ``tokenization`` track is a recipe for continued MLM pretraining from the shared
char model (``VocabRecipe``, harness/tracks/tokenization/recipe.py): which vocabulary, and how new word rows start.
"""

from __future__ import annotations

from harness.registry import method
from harness.tracks.tokenization.recipe import VocabRecipe

_BOUNDS = {"num_words": (1, None), "min_count": (1, None)}


@method("wobert", track="tokenization", bounds=_BOUNDS)
def wobert(num_words: int = 5000, min_count: int = 5) -> VocabRecipe:
    """WoBERT: char vocab + top jieba words, word rows start as the mean of their chars' rows.

    The ``num_words`` most frequent corpus words seen >= ``min_count`` times are added; then
    continued MLM from the char model."""
    return VocabRecipe("mean", num_words, min_count)


@method("wobert-random-init", track="tokenization", bounds=_BOUNDS)
def wobert_random_init(num_words: int = 5000, min_count: int = 5) -> VocabRecipe:
    """Ablation: the same word vocabulary and compute, word rows initialised at random."""
    return VocabRecipe("random", num_words, min_count)
