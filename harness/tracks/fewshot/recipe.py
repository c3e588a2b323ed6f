"""What a fewshot method returns: which objective, which pattern and verbalizer, what it trains on."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("pet", "head", "icl")


@dataclass(frozen=True)
class FewShotRecipe:
    """``kind`` is ``"pet"`` (pattern + verbalizer on the language model), ``"head"`` (a linear
    classifier head) or ``"icl"`` (in-context demonstrations in the prompt, causal LMs only).

    PET fields: ``pattern`` (a name p1..p5 / a prompt name, or a template; empty = the block's
    ``pattern`` setting), ``verbalizer`` (negative, positive word; empty = the pattern's own words),
    ``train`` (False: zero-shot), ``mlm_rate`` (random masking of the other tokens on an MLM; on a
    causal LM the share of positions given a next-token loss), ``unlabelled_ratio`` (unlabelled texts
    per labelled text, semi-supervised), ``calibrate`` (contextual calibration of zero-shot or
    in-context scores, causal LMs). ICL field: ``demos`` (labelled examples in the prompt). Head field:
    ``all_labels`` (the supervised ceiling trains on every train label).
    """

    kind: str
    pattern: str = ""
    verbalizer: tuple[str, str] = ("", "")
    train: bool = True
    mlm_rate: float = 0.0
    unlabelled_ratio: float = 0.0
    all_labels: bool = False
    calibrate: bool = False
    demos: int = 0
