"""The dialogue track: Su's whole-dialogue LM format versus CDial-GPT's history -> response format.

Modules: ``settings`` (the Settings dataclass), ``protocol`` (run, cost), ``format`` (the
``DialogueFormat`` a method returns, the char vocabulary and sample building), ``model`` (the tiny
GPT-2, scoring and sampling), ``claims`` (with the metric figure).

Cell groups: dialogue cells train alone (``Track.group_key`` is None): each arm is its own sample
format, so arms differ in sequence layout and batches are collated on the host per step.
"""

from harness.tracks.dialogue.protocol import DialogueTrack

__all__ = ["DialogueTrack"]
