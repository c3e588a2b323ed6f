"""The tokenization track: WoBERT (word-level Chinese BERT) versus a character BERT (Su 2020).

Modules: ``protocol`` (Settings, pretraining configs, run, cost), ``recipe`` (what a method
returns), ``evaluation`` (encoding cache, accuracy), ``speed`` (timing against the char twin),
``claims`` (with the throughput figure).
"""

from harness.tracks.tokenization.protocol import Tokenization

__all__ = ["Tokenization"]
