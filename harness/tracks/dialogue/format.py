"""Character vocabulary and the two dialogue sample formats of the dialogue track.

Su (post 7718): one left-to-right LM over the whole dialogue, ``[CLS] u1 [SEP] u2 [SEP] ... un [SEP]``,
speaker segment ids alternating by turn, loss on every token, so one sample trains every turn.
CDial-GPT (TransferTransfo style): ``[CLS] [S1] u1 [S2] u2 ... [Sx] un [SEP]``, token types are the
speaker tokens, loss on the last response only: one supervised response per sample.

GPT-2 adds token-type embeddings from its word-embedding table, so both formats give segment
ids as the ids of the speaker tokens [S1]/[S2] (the way CDial-GPT does it).
"""

from __future__ import annotations

from dataclasses import dataclass

PAD, CLS, SEP, UNK, S1, S2 = 0, 1, 2, 3, 4, 5
SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[S1]", "[S2]")
FORMATS = ("su", "cdial")


@dataclass(frozen=True)
class DialogueFormat:
    """A method's choice: the sample format and (Su's format) whether speaker segment ids are used."""

    kind: str
    segments: bool = True


@dataclass
class Sample:
    ids: list[int]
    types: list[int]
    mask: list[int]  # 1 where the token is a training/scoring target


class CharVocab:
    """Characters of the training dialogues (sorted, so the vocabulary is deterministic) + specials."""

    def __init__(self, dialogues: list[list[str]]) -> None:
        chars = sorted({c for d in dialogues for u in d for c in u})
        self.itos = list(SPECIALS) + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(c, UNK) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.itos[i] for i in ids if i >= len(SPECIALS))


def speaker(turn: int) -> int:
    return S1 if turn % 2 == 0 else S2


def su_sample(vocab: CharVocab, turns: list[str], last_only: bool = False, segments: bool = True) -> Sample:
    """Su's format; ``last_only`` marks only the final utterance (+ its [SEP]) as targets (for scoring)."""
    ids, types, mask = [CLS], [S1 if segments else PAD], [0]
    for i, u in enumerate(turns):
        toks = vocab.encode(u) + [SEP]
        target = int(not last_only or i == len(turns) - 1)
        ids += toks
        types += [speaker(i) if segments else PAD] * len(toks)
        mask += [target] * len(toks)
    return Sample(ids, types, mask)


def cdial_sample(vocab: CharVocab, turns: list[str]) -> Sample:
    """CDial-GPT's format: speaker tokens before each turn, [SEP] after the last; targets = last response."""
    ids, types, mask = [CLS], [S1], [0]
    for i, u in enumerate(turns):
        last = i == len(turns) - 1
        toks = [speaker(i)] + vocab.encode(u) + ([SEP] if last else [])
        ids += toks
        types += [speaker(i)] * len(toks)
        mask += [0] + [int(last)] * (len(toks) - 1)
    return Sample(ids, types, mask)


def fit(sample: Sample, ctx: int, keep: str) -> Sample:
    """Cut a sample to ``ctx`` tokens: ``keep="head"`` keeps the start (training dialogues),
    ``keep="tail"`` drops the oldest history after [CLS] (the scored response is at the end)."""
    if len(sample.ids) <= ctx:
        return sample
    if keep == "head":
        return Sample(sample.ids[:ctx], sample.types[:ctx], sample.mask[:ctx])
    cut = len(sample.ids) - (ctx - 1)
    return Sample(sample.ids[:1] + sample.ids[cut:], sample.types[:1] + sample.types[cut:], [0] + sample.mask[cut:])


def training_samples(fmt: DialogueFormat, vocab: CharVocab, dialogues: list[list[str]], ctx: int) -> list[Sample]:
    """One sample per dialogue: the whole dialogue (Su) or history -> last response (CDial)."""
    if fmt.kind == "su":
        return [fit(su_sample(vocab, d, segments=fmt.segments), ctx, "head") for d in dialogues]
    if fmt.kind == "cdial":
        return [fit(cdial_sample(vocab, d), ctx, "tail") for d in dialogues]
    raise ValueError(f"unknown dialogue format {fmt.kind!r}")


def scoring_samples(fmt: DialogueFormat, vocab: CharVocab, dialogues: list[list[str]], ctx: int) -> list[Sample]:
    """Every turn from the second, given its history, in the arm's own format; targets = that
    turn's characters and its end [SEP], so both formats score exactly the same tokens."""
    out = []
    for d in dialogues:
        for k in range(1, len(d)):
            turns = d[: k + 1]
            s = (
                su_sample(vocab, turns, last_only=True, segments=fmt.segments)
                if fmt.kind == "su"
                else cdial_sample(vocab, turns)
            )
            out.append(fit(s, ctx, "tail"))
    return out


def reply_prompt(fmt: DialogueFormat, vocab: CharVocab, context: str) -> tuple[list[int], list[int], int]:
    """(ids, types, type of the reply) to sample a second-speaker reply to ``context``."""
    if fmt.kind == "su":
        s = su_sample(vocab, [context], segments=fmt.segments)
        return s.ids, s.types, S2 if fmt.segments else PAD
    ids = [CLS, S1] + vocab.encode(context) + [S2]
    return ids, [S1] * (len(ids) - 1) + [S2], S2


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n: distinct character n-grams over all n-grams of the replies (0 when there are none)."""
    grams = [t[i : i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
