"""What a fewshot method returns: which objective, which pattern and verbalizer, what it trains on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FewShotRecipe:
    """``kind`` is ``"pet"`` (pattern + verbalizer on the MLM) or ``"head"`` (a linear classifier head).

    PET fields: ``pattern`` (a name p1..p5 or a template), ``verbalizer`` (negative, positive token),
    ``train`` (False: zero-shot), ``mlm_rate`` (random masking of the other tokens),
    ``unlabelled_ratio`` (unlabelled texts per labelled text, semi-supervised). Head field:
    ``all_labels`` (the supervised ceiling trains on every train label).
    """

    kind: str
    pattern: str = ""
    verbalizer: tuple[str, str] = ("", "")
    train: bool = True
    mlm_rate: float = 0.0
    unlabelled_ratio: float = 0.0
    all_labels: bool = False
