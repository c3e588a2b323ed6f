"""dialogue baseline: CDial-GPT's format, history -> last response."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.dialogue.format import DialogueFormat


@method("cdial", track="dialogue", baseline=True)
def cdial() -> DialogueFormat:
    """[CLS] [S1] u1 [S2] u2 ... [Sx] un [SEP], speaker-token types, loss on the last response only."""
    return DialogueFormat("cdial")
