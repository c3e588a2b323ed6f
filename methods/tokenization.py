"""WoBERT (Su 2020): a word-level vocabulary for a Chinese BERT, continued from a char BERT.

A method of the ``tokenization`` track is a recipe for continued MLM pretraining from the shared
char model (see harness/tracks/tokenization.py): which vocabulary, and how new word rows start.
"""

from __future__ import annotations

from harness.registry import method

_BOUNDS = {"num_words": (1, None), "min_count": (1, None)}


@method("wobert", track="tokenization", bounds=_BOUNDS)
def wobert(num_words: int = 5000, min_count: int = 5) -> dict:
    """WoBERT: char vocab + top jieba words, word rows start as the mean of their chars' rows.

    The ``num_words`` most frequent corpus words seen >= ``min_count`` times are added; then
    continued MLM from the char model."""
    return {"arm": "mean", "num_words": num_words, "word_min_count": min_count}


@method("wobert-random-init", track="tokenization", bounds=_BOUNDS)
def wobert_random_init(num_words: int = 5000, min_count: int = 5) -> dict:
    """Ablation: the same word vocabulary and compute, word rows initialised at random."""
    return {"arm": "random", "num_words": num_words, "word_min_count": min_count}
