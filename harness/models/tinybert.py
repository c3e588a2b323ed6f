"""Tiny BERT for CPU experiments: a transformers ``BertForMaskedLM`` built from a small config.

Why not the stock MLM forward: it computes vocabulary logits at every position, which for a tiny
model is ~70% of the FLOPs. ``mlm_loss`` runs the encoder, gathers only the masked positions and
applies the MLM head there (same loss, 2-3x faster steps). ``mask_tokens`` is BERT's 15% masking
with 80% [MASK] / 10% random token / 10% unchanged, shared with the PET track.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from harness.engine.context import seeded_init

IGNORE = -100


@dataclass(frozen=True)
class TinyBertConfig:
    """Encoder shape. ``max_positions`` must cover the longest input in tokens (512 chars + 2)."""

    layers: int = 2
    hidden: int = 128
    heads: int = 2
    ffn_mult: int = 4
    max_positions: int = 520
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bert_config(cfg: TinyBertConfig, vocab_size: int, pad_id: int = 0) -> Any:
    """The transformers ``BertConfig`` for ``cfg`` (no pooler is used; MLM decoder tied to embeddings)."""
    from transformers import BertConfig

    if cfg.hidden % cfg.heads:
        raise ValueError(f"hidden={cfg.hidden} is not divisible by heads={cfg.heads}")
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.ffn_mult * cfg.hidden,
        max_position_embeddings=cfg.max_positions,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
        pad_token_id=pad_id,
        type_vocab_size=2,
        tie_word_embeddings=True,
    )


def make_mlm(cfg: TinyBertConfig, vocab_size: int, seed: int = 0, pad_id: int = 0) -> Any:
    """A freshly initialised ``BertForMaskedLM`` (deterministic for a given seed)."""
    from transformers import BertForMaskedLM

    with seeded_init(seed):
        model = BertForMaskedLM(bert_config(cfg, vocab_size, pad_id))
    return model


def masked_logits(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor
) -> torch.Tensor:
    """MLM logits only where ``positions`` (bool, same shape as input_ids) is True: (n_masked, V)."""
    hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return model.cls(hidden[positions])


def mlm_loss(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy (nats) over the positions where ``labels != -100``."""
    sel = labels != IGNORE
    if not bool(sel.any()):
        return input_ids.new_zeros((), dtype=torch.float32) if reduction == "mean" else input_ids.new_zeros(0).float()
    logits = masked_logits(model, input_ids, attention_mask, sel)
    return F.cross_entropy(logits.float(), labels[sel], reduction=reduction)


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    rate: float = 0.15,
    first_random_id: int = 5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose ``rate`` of the maskable positions (at least one per row that has any);
    of those 80% -> [MASK], 10% -> a random non-special token, 10% unchanged.

    Returns (masked input ids, labels with -100 at unchosen positions). ``maskable`` is a bool
    tensor that is False at [CLS]/[SEP]/[PAD].
    """
    scores = torch.rand(input_ids.shape, generator=generator)
    chosen = (scores < rate) & maskable
    # Guarantee one target per non-empty row so every sequence contributes to the loss.
    noscore = torch.where(maskable, scores, torch.full_like(scores, 2.0))
    first = noscore.argmin(dim=1)
    has_any = maskable.any(dim=1)
    rows = torch.arange(input_ids.shape[0])
    none = has_any & ~chosen.any(dim=1)
    chosen[rows[none], first[none]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    action = torch.rand(input_ids.shape, generator=generator)
    out = input_ids.clone()
    out[chosen & (action < 0.8)] = mask_id
    rand_pos = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(first_random_id, vocab_size, input_ids.shape, generator=generator)
    out[rand_pos] = random_ids[rand_pos]
    return out, labels


class BertClassifier(nn.Module):
    """Sequence classifier on a (pretrained) BERT encoder: pooled state -> dropout -> linear.

    ``pooling="cls"`` uses the [CLS] state (BERT's convention); ``"mean"`` averages the states of
    the non-padding tokens, which a tiny MLM-only encoder (no next-sentence task ever trained
    [CLS]) learns from faster.
    """

    def __init__(self, encoder: Any, num_classes: int, dropout: float = 0.1, seed: int = 0, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        with seeded_init(seed):
            self.head = nn.Linear(hidden, num_classes)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, host_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``host_mask``: the same 2-D mask still on the host, if the caller has it: then the encoder's
        mask is decided there (``encoder_mask``), never by reading the device."""
        mask = attention_mask if host_mask is None else encoder_mask(self.encoder, attention_mask, host_mask)
        h = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            pooled = h[:, 0]
        else:
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.head(self.dropout(pooled))


def encoder_mask(encoder: Any, attention_mask: torch.Tensor, host_mask: torch.Tensor) -> torch.Tensor | None:
    """The attention mask a BERT encoder is given, decided from ``host_mask`` (the 2-D padding mask
    before its upload) so that a training step never waits for the device: None when no token is
    padding (what transformers' SDPA path concludes by reading ``attention_mask.all()`` on the device,
    one sync per forward), else the 4-D mask transformers builds for padding, built without that
    read (the same call with the skip disabled). Without ``create_bidirectional_mask`` (older
    transformers), the 2-D mask as is: transformers decides."""
    if bool(host_mask.all()):
        return None
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:
        return attention_mask
    shape = (*attention_mask.shape, 0)  # only the batch size, length, dtype and device are read
    embeds = torch.empty(shape, dtype=encoder.embeddings.word_embeddings.weight.dtype, device=attention_mask.device)
    return create_bidirectional_mask(
        config=encoder.config, inputs_embeds=embeds, attention_mask=attention_mask, allow_is_bidirectional_skip=False
    )


def count_parameters(module: nn.Module, exclude_embeddings: bool = False) -> int:
    """Number of distinct parameters (tied weights counted once); optionally without embeddings."""
    seen: set[int] = set()
    total = 0
    for name, p in module.named_parameters():
        if id(p) in seen or (exclude_embeddings and "embeddings" in name):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
