"""What a fewshot cell costs before it runs: CPU seconds (``Track.cost``) and peak memory (``Track.memory``).

Why its own module: a causal-LM cell differs from a tiny-MLM cell by three orders of magnitude, and
the executor's memory gate starts a cell only when its declared peak fits in free memory, so two
Qwen jobs at ``-j 2`` must declare honestly. Memory comes from ``lm_backbones.memory_estimate``
(fitted to measured peaks, errs high) plus the cached states a cell holds. The CPU constants were
measured on the 2-core machine (README, the fewshot section's "Cost"); they assume warm
caches: the lower-layer states and whole-model scores a run still has to build are counted once
per run by ``prep.shared_cost`` (``Track.shared_cost``), not per cell.
"""

from __future__ import annotations

import math
from typing import Any

from harness.errors import HarnessError, unknown_name
from harness.track import DEFAULT_CELL_MEMORY

QWEN_PARAMETERS = 630_167_424
# CPU seconds on one thread, Qwen-0.5B, texts cut to 120 characters (~46 tokens with the prompt).
LOAD_S = 12.0  # import, load the fp32 folder, tokenize (scaled down for small models, 2 s at least)
FULL_PER_TEXT_S = 0.55  # a whole-model forward per text (icl; zero-shot of a pattern that is not label-last)
# Refitted on the validation pilot's 17 runs (benchmarks/pilot_lm_training.py, issue 21; CPU seconds per
# trained step incl. its share of evaluations on 200 texts every 10 steps, machine loaded): head
# 0.69 / 1.37 / 2.64 / 5.3 at LoRA depth 1 / 2 / 4 / 8, PET 1.65 / 2.3 / 3.7 / 6.3. The constants
# below reproduce those within ~+20% (they err high).
TOP_LAYER_PER_TEXT_S = 0.02  # one top layer over cached states, per text (+ output layer at one position)
STEP_PER_LAYER_S = 0.35  # one training step of 8 texts, per trained layer (LoRA or weights, similar)
LM_POSITION_S = 0.009  # the 151k-word output layer, forward + backward, per next-token loss position
# With ``patience``, runs stop early: the pilot's runs (patience 3, evaluation every 10 steps) trained
# 59 of 120 steps on average, best step 29; the estimate takes 2 x patience evaluations.
PATIENCE_EVALS = 2
STATE_BYTES_PER_TOKEN = 4  # fp32 states: hidden x 4 bytes per token


def check_backbone(spec: str) -> None:
    """Syntax of a backbone setting; an unknown registered name is a one-line error, a path is checked
    when the cell runs (a missing or corrupt file is then that cell's ``error``)."""
    from harness.models.lm_backbones import BACKBONES, HUB_PREFIX, split_spec
    from harness.tracks.fewshot.mlm import BERT_PREFIX, MLM_BACKBONES

    if spec in MLM_BACKBONES:
        return
    if spec.startswith(BERT_PREFIX):
        if not spec[len(BERT_PREFIX) :].strip():
            raise HarnessError("backbone 'bert:' needs a hub id or folder, e.g. 'bert:hfl/chinese-roberta-wwm-ext'")
        return
    base = split_spec(spec)[0]
    if base in BACKBONES:
        if BACKBONES[base].family != "causal":
            raise HarnessError(f"backbone {spec!r} is a masked LM: the fewshot track calls it 'char' or 'wobert'")
        return
    if base.startswith(HUB_PREFIX) or base.startswith(("/", ".", "~")) or "/" in base or base.endswith(".gguf"):
        return
    raise unknown_name(
        "backbone", spec, [*MLM_BACKBONES, *BACKBONES], where="or bert:<id>, hub:<id>, a folder or a .gguf path"
    )


def _shape(spec: str) -> Any:
    from harness.models.lm_backbones import shape_of

    try:
        return shape_of(spec)
    except (HarnessError, OSError, KeyError, ValueError):
        return None  # a missing or broken model: the cell fails fast with a one-line error


def _tokens(s: Any) -> int:
    """Upper estimate of tokens per patterned text (Qwen: ~0.6 per character of Chinese, plus the prompt)."""
    return int(0.6 * (s.max_chars or 300)) + 24


def _test_texts(cell: Any) -> int:
    per_class = cell.dataset_params.get("eval_per_class") or 1000
    return 2 * int(per_class)


def _trainable(shape: Any, lora: bool, top: int) -> tuple[int, int]:
    """(trainable parameters, parameters whose best-checkpoint copy is kept) for ``top`` layers."""
    h, inter = shape.hidden, shape.intermediate
    per_layer = 4 * h * h + 3 * h * inter + 2 * h
    if lora:
        n = top * 8 * (8 * h + 3 * (h + inter))
        return n, top * per_layer  # the top stack's state_dict is copied (frozen weights included)
    return top * per_layer + h, top * per_layer


def cell_memory(s: Any, recipe: Any, cell: Any) -> int:
    """Peak bytes of one worker running this cell."""
    from harness.models.lm_backbones import memory_estimate
    from harness.tracks.fewshot.lm_train import arm_training, parse_train_layers
    from harness.tracks.fewshot.mlm import BERT_PREFIX, is_mlm

    if is_mlm(s.backbone):
        return 3 * 2**30 if s.backbone.startswith(BERT_PREFIX) else DEFAULT_CELL_MEMORY
    shape = _shape(s.backbone)
    if shape is None:
        return DEFAULT_CELL_MEMORY
    try:
        lora, top = parse_train_layers(arm_training(s, recipe).layers)
    except HarnessError:
        return DEFAULT_CELL_MEMORY
    tokens = _tokens(s)
    per_text = tokens * shape.hidden * STATE_BYTES_PER_TOKEN
    held = (_test_texts(cell) + s.valid_texts) * per_text
    if recipe.kind == "icl":
        seq = (recipe.demos + 1) * tokens
        return memory_estimate(s.backbone, "score", batch_size=8, seq_len=seq)
    if recipe.kind == "pet" and not recipe.train:
        return memory_estimate(s.backbone, "score", batch_size=8, seq_len=tokens) + 2 * held
    k = s.full_texts if recipe.all_labels else (s.k or 200)
    held += k * per_text
    batch = s.batch_size
    if recipe.unlabelled_ratio > 0:
        held += s.unlabelled_texts * per_text
        batch += math.ceil(recipe.unlabelled_ratio * s.batch_size)
    positions = batch * (1 + math.ceil(max(recipe.mlm_rate, 0.15) * tokens))
    trainable, copied = _trainable(shape, lora, top)
    train = memory_estimate(
        s.backbone,
        "train",
        batch_size=batch,
        seq_len=tokens,
        trainable_parameters=trainable,
        trainable_layers=top,
        logit_positions=positions,
    )
    return train + held + 4 * copied


def cell_cost(s: Any, recipe: Any, cell: Any) -> float:
    """CPU seconds of one cell (warm caches)."""
    from harness.tracks.fewshot.mlm import is_mlm

    if is_mlm(s.backbone):
        return _mlm_cost(s, recipe)
    shape = _shape(s.backbone)
    scale = (shape.parameters / QWEN_PARAMETERS) if shape else 0.01
    from harness.tracks.fewshot.lm_train import arm_training, parse_train_layers

    arm = arm_training(s, recipe)
    try:
        top = parse_train_layers(arm.layers)[1]
    except HarnessError:
        return 1.0
    chars = (s.max_chars or 300) / 120
    top_pass = TOP_LAYER_PER_TEXT_S * top * scale * chars
    n_test = _test_texts(cell)
    load = 2.0 + (LOAD_S - 2.0) * min(1.0, scale)
    if recipe.kind == "icl":
        subset = min(s.subset_texts, n_test)
        return load + subset * FULL_PER_TEXT_S * scale * chars * (1 + 0.05 * recipe.demos)
    if recipe.kind == "pet" and not recipe.train:
        return load + (n_test + s.valid_texts) * top_pass
    steps = arm.steps
    if s.patience:
        steps = min(steps, PATIENCE_EVALS * s.patience * arm.eval_every)
    per_step = STEP_PER_LAYER_S * top * scale * chars * s.batch_size / 8
    positions = recipe.mlm_rate * _tokens(s) * s.batch_size if recipe.kind == "pet" else 0
    if recipe.unlabelled_ratio > 0:
        per_step *= 1 + recipe.unlabelled_ratio
        positions *= 1 + recipe.unlabelled_ratio
    per_step += LM_POSITION_S * scale * positions
    evals = math.ceil(steps / arm.eval_every) + 1
    return load + steps * per_step + evals * s.valid_texts * top_pass + n_test * top_pass


def _mlm_cost(s: Any, recipe: Any) -> float:
    """Tiny MLM, measured with process_time on a loaded core, quick model: 0.19 s per step at batch 16
    (pet-semi 0.44 s: a second batch of unlabelled texts), 1.1 s per 500 validation texts scored,
    ~9 s to load the backbone and data and to test 2,000 texts."""
    if recipe.kind == "pet" and not recipe.train:
        return 8.0
    steps = s.full_steps if recipe.all_labels else s.steps
    per_step = 0.19 * s.batch_size / 16 * (2.3 if recipe.unlabelled_ratio > 0 else 1)
    evals = math.ceil(steps / s.eval_every) * 1.1 * s.valid_texts / 500
    return 9.0 + steps * per_step + evals
