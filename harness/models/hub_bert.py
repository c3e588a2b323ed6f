"""A pretrained Chinese BERT from the Hugging Face hub (or a local copy) as the char MLM (paper scale).

WoBERT starts from a released Chinese BERT (``bert-base-chinese``, ``hfl/chinese-roberta-wwm-ext``),
whose vocabulary is essentially one token per character. To reuse the whole text stack unchanged
(our tokenizers, batching, word-vocabulary extension and continued MLM), the hub model is
re-indexed into our char ``Vocab``: our five specials first, then every hub token that is a
single character under our normalisation (NFKC, lower case), in the hub's order; the embedding
rows and MLM output biases are permuted to match. Hub word pieces (``##ing``, English words) are
dropped: our char tokenizer never produces them, so they could never be looked up.

``name_or_path`` is a hub id or a local folder (``save_pretrained`` layout). Nothing here forces
a download: with ``HF_HUB_OFFLINE=1`` (or no network) a hub id resolves only from the local
Hugging Face cache, and a missing model is a one-line error.
"""

from __future__ import annotations

import os
from typing import Any

from harness.errors import HarnessError, first_line
from harness.models.tinybert import TinyBertConfig
from harness.models.zh_tokenizers import SPECIAL_TOKENS, Vocab


def _explain(name_or_path: str, exc: Exception) -> HarnessError:
    return HarnessError(
        f"cannot load the hub BERT {name_or_path!r} (a hub id needs the network or the "
        f"local Hugging Face cache; a path needs config.json, weights and vocab.txt): "
        f"{first_line(exc)}"
    )


def _resolve(name_or_path: str) -> str:
    """A hub id as given; a name that looks like a path (not ``owner/name``) expanded, and it must
    be an existing folder."""
    looks_local = name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path
    if not looks_local:
        return name_or_path
    path = os.path.expanduser(name_or_path)
    if not os.path.isdir(path):
        raise HarnessError(f"hub model folder {name_or_path!r} does not exist")
    return path


def hub_config(name_or_path: str) -> TinyBertConfig:
    """Our encoder config equal to the hub model's (so cached artifacts load into the right shape)."""
    from transformers import AutoConfig

    try:
        c = AutoConfig.from_pretrained(_resolve(name_or_path))
    except Exception as exc:
        raise _explain(name_or_path, exc) from None
    if getattr(c, "model_type", "bert") != "bert":
        raise HarnessError(f"hub model {name_or_path!r} is a {c.model_type!r}, not a BERT")
    if c.intermediate_size % c.hidden_size:
        raise HarnessError(
            f"hub model {name_or_path!r}: intermediate size {c.intermediate_size} is not a "
            f"multiple of hidden size {c.hidden_size}"
        )
    return TinyBertConfig(
        layers=c.num_hidden_layers,
        hidden=c.hidden_size,
        heads=c.num_attention_heads,
        ffn_mult=c.intermediate_size // c.hidden_size,
        max_positions=c.max_position_embeddings,
        dropout=c.hidden_dropout_prob,
    )


def hub_tokens(name_or_path: str) -> list[str]:
    """The hub tokenizer's tokens in id order."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(_resolve(name_or_path))
    except Exception as exc:
        raise _explain(name_or_path, exc) from None
    by_id = {i: t for t, i in tok.get_vocab().items()}
    return [by_id.get(i, "") for i in range(max(by_id) + 1)]


def char_vocab_from_hub(tokens: list[str]) -> tuple[Vocab, list[int]]:
    """Our char vocabulary from a hub token list, and for each of our ids the hub id it comes from."""
    from harness.data.chinese import normalize

    index = {t: i for i, t in enumerate(tokens)}
    missing = [s for s in SPECIAL_TOKENS if s not in index]
    if missing:
        raise HarnessError(f"hub vocabulary lacks the special tokens {missing}: not a BERT vocabulary")
    chars: list[str] = []
    rows = [index[s] for s in SPECIAL_TOKENS]
    seen = set(SPECIAL_TOKENS)
    for i, t in enumerate(tokens):
        if len(t) == 1 and not t.isspace() and normalize(t) == t and t not in seen:
            seen.add(t)
            chars.append(t)
            rows.append(i)
    if not chars:
        raise HarnessError("hub vocabulary has no single-character tokens: not a Chinese BERT")
    n = len(SPECIAL_TOKENS) + len(chars)
    return Vocab(SPECIAL_TOKENS + tuple(chars), n, False), rows


def import_hub_mlm(name_or_path: str) -> tuple[Any, Vocab]:
    """The hub ``BertForMaskedLM`` re-indexed into our char vocabulary: (model, vocab)."""
    import torch
    from transformers import BertForMaskedLM

    from harness.models.tinybert import make_mlm

    cfg = hub_config(name_or_path)
    vocab, rows = char_vocab_from_hub(hub_tokens(name_or_path))
    try:
        hub = BertForMaskedLM.from_pretrained(_resolve(name_or_path))
    except Exception as exc:
        raise _explain(name_or_path, exc) from None
    model = make_mlm(cfg, len(vocab))
    skip = {
        "bert.embeddings.word_embeddings.weight",
        "cls.predictions.bias",
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
    }
    state = {k: v for k, v in hub.state_dict().items() if k not in skip}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise HarnessError(f"hub model {name_or_path!r} has weights a BERT MLM does not: {result.unexpected_keys[:3]}")
    idx = torch.tensor(rows, dtype=torch.long)
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight.copy_(hub.bert.embeddings.word_embeddings.weight[idx])
        model.cls.predictions.bias.copy_(hub.cls.predictions.bias[idx])
    model.eval()
    return model, vocab
