"""The fewshot track: PET (cloze patterns on a language model) versus a classifier head (Su 2020; Schick & Schuetze).

Modules: ``protocol`` (Settings, run dispatch), ``sampling`` (the seed's K labelled texts), ``recipe``
(what a method returns), ``pattern`` (Su's patterns, the prompts, their encoding on an MLM), ``mlm`` +
``train`` (masked-LM cells: the tiny from-scratch contrast or a hub BERT), ``lm`` + ``lm_train``
(causal-LM cells: scoring, in-context, top layers trained over cached states), ``budget`` (cost and
memory per cell), ``claims``, ``constants`` (Su's published numbers), ``figures``.

Cell groups: fewshot cells train alone (``Track.group_key`` is None): a cell is a BERT or a 0.5B
causal LM over cached states, not a small network, its texts are collated on the host, and its
arms differ in pattern, trained layers and prompt; a GPU is already busy with one of them.
"""

from harness.tracks.fewshot.protocol import FewShot

__all__ = ["FewShot"]
