"""The dialogue track's protocol knobs (its ``Settings``), in a module of their own so that ``model``
reads them without importing ``protocol``, which imports ``model``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DialogueSettings:
    backbone: str = "gpt"  # gpt: the tiny GPT-2 below, from scratch | a causal LM spec (lm_backbones): LoRA over states
    train_layers: str = "lora-top1"  # a causal-LM backbone's trained top (harness.models.lm_lora)
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    ctx: int = 128  # tokens per sequence (the tiny GPT's: characters)
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    train_tokens: int = 150_000
    eval_points: int = 10
    target_ppl: float = 250.0  # reached mid-run on chatterbot-zh at the quick budget (measured)
    top_k: int = 5
    reply_max_len: int = 32
    replies: int = 0  # contexts to sample replies for (0 = every held-out dialogue)
