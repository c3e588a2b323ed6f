"""The tokenization track: WoBERT (word-level Chinese BERT) versus a character BERT (Su 2020).

Modules: ``protocol`` (Settings, pretraining configs, run, cost), ``recipe`` (what a method
returns), ``evaluation`` (encoding cache, accuracy), ``speed`` (timing against the char twin),
``claims`` (with the throughput figure).

Cell groups: tokenization cells train alone (``Track.group_key`` is None). Each arm fine-tunes its
own vocabulary's BERT (the embedding table's size is the method), batches are length-bucketed texts
collated on the host, and the throughput metrics time one model against its char twin inside the
cell, which a batched neighbour would disturb. Its loops keep no host sync per step
(``harness.models.finetune.train_loop``).
"""

from harness.tracks.tokenization.protocol import Tokenization

__all__ = ["Tokenization"]
