"""The trained top of a causal LM over cached lower-layer states: which layers, and LoRA or whole weights.

Why its own module: the fewshot and dialogue tracks train the same way (the states entering layer L are
computed once and cached; each step runs only layers L..N-1), so both read one definition of
``train_layers``: ``top<N>`` (every weight of the top N layers and the final norm) or ``lora-top<N>``
(LoRA adapters, rank 8, alpha 16, on all seven linear maps of those layers, from ``peft``).
"""

from __future__ import annotations

import re
from typing import Any

from harness.engine.context import seeded_init
from harness.errors import HarnessError
from harness.models.lm_states import TopLayers

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_RANK, LORA_ALPHA = 8, 16
_LAYERS = re.compile(r"^(lora-)?top(\d+)$")


def parse_train_layers(value: str) -> tuple[bool, int]:
    """``top<N>`` -> (False, N); ``lora-top<N>`` -> (True, N); anything else a one-line error."""
    m = _LAYERS.match(value.strip())
    if not m or int(m.group(2)) < 1:
        raise HarnessError(
            f"train_layers={value!r}: a causal LM trains its top layers over cached states: write 'top<N>' or "
            "'lora-top<N>' (N >= 1); whole-model fine-tuning costs ~40 s per step and 14 GB here"
        )
    return bool(m.group(1)), int(m.group(2))


def make_trainable(model: Any, layer: int, lora: bool, seed: int) -> tuple[TopLayers, int]:
    """Freeze the model, then make layers ``layer``..N-1 trainable (weights, or LoRA adapters seeded
    with ``seed``); returns the top stack and its trainable parameter count."""
    for p in model.parameters():
        p.requires_grad_(False)
    n = model.config.num_hidden_layers
    if lora:
        from peft import LoraConfig, inject_adapter_in_model

        cfg = LoraConfig(
            r=LORA_RANK,
            lora_alpha=LORA_ALPHA,
            lora_dropout=0.0,
            target_modules=list(LORA_TARGETS),
            layers_to_transform=list(range(layer, n)),
        )
        with seeded_init(seed):  # peft draws the adapters on the CPU, then moves them to the model's device
            inject_adapter_in_model(cfg, model)
        for name, p in model.named_parameters():
            p.requires_grad_("lora_" in name)
    top = TopLayers(model, layer)
    if not lora:
        for p in top.parameters():
            p.requires_grad_(True)
    return top, sum(p.numel() for p in top.parameters() if p.requires_grad)
