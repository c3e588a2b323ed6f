"""dialogue methods: Su's whole-dialogue LM format."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.dialogue_format import DialogueFormat


@method("su-lm", track="dialogue")
def su_lm(segments: bool = True) -> DialogueFormat:
    """[CLS] u1 [SEP] u2 [SEP] ... with speaker segment ids (``segments``), loss on every turn."""
    return DialogueFormat("su", segments)
