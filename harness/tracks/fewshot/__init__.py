"""The fewshot track: PET (cloze patterns on a language model) versus a classifier head (Su 2020; Schick & Schuetze).

Modules: ``protocol`` (Settings, run dispatch), ``sampling`` (the seed's K labelled texts), ``recipe``
(what a method returns), ``pattern`` (Su's patterns, the prompts, their encoding on an MLM), ``mlm`` +
``train`` (masked-LM cells: the tiny from-scratch contrast or a hub BERT), ``lm`` + ``lm_train``
(causal-LM cells: scoring, in-context, top layers trained over cached states), ``budget`` (cost and
memory per cell), ``claims``, ``constants`` (Su's published numbers), ``figures``.
"""

from harness.tracks.fewshot.protocol import FewShot

__all__ = ["FewShot"]
