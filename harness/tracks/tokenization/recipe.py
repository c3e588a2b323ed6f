"""What a tokenization method returns: the continued-pretraining arm and its word vocabulary."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VocabRecipe:
    """``arm``: ``char`` (the char vocabulary, continued with equal compute), ``mean`` (WoBERT: word
    rows start at the mean of their characters' rows) or ``random`` (word rows at random).
    ``num_words`` most frequent corpus words seen at least ``word_min_count`` times are added (the
    char arm ignores both; the defaults equal ``ContinueConfig``'s so cached artifacts keep their keys)."""

    arm: str
    num_words: int = 5000
    word_min_count: int = 5
