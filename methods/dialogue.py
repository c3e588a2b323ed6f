"""dialogue methods: Su's whole-dialogue LM format, with and without speaker segment ids."""

from __future__ import annotations

from harness.registry import method
from harness.tracks.dialogue.format import DialogueFormat


@method("su-lm", track="dialogue")
def su_lm() -> DialogueFormat:
    """[CLS] u1 [SEP] u2 [SEP] ... with alternating speaker segment ids, loss on every turn (Su)."""
    return DialogueFormat("su", segments=True)


@method("su-lm-noseg", track="dialogue")
def su_lm_noseg() -> DialogueFormat:
    """Ablation: Su's format without segment ids (turns told apart by [SEP] only)."""
    return DialogueFormat("su", segments=False)
