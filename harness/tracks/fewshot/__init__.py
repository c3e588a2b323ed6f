"""The fewshot track: PET (cloze patterns on a language model) versus a classifier head (Su 2020; Schick & Schuetze).

Modules: ``protocol`` (Settings, run, cost, K sampling), ``recipe`` (what a method returns),
``pattern`` (Su's patterns and their encoding), ``train`` (PET loss and predictions),
``claims``, ``constants`` (Su's published numbers), ``figures``.
"""

from harness.tracks.fewshot.protocol import FewShot

__all__ = ["FewShot"]
