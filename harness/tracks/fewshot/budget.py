"""What a fewshot cell costs before it runs: CPU seconds (``Track.cost``) and peak memory (``Track.memory``).

Why its own module: a causal-LM cell differs from a tiny-MLM cell by three orders of magnitude, and
the executor's memory gate starts a cell only when its declared peak fits in free memory, so two
Qwen jobs at ``-j 2`` must declare honestly. Memory comes from ``lm_backbones.memory_estimate``
(fitted to measured peaks, errs high) plus the cached states a cell holds. CPU seconds come from the
causal-LM cost model (``harness.models.lm_cost``: each component's FLOPs at its measured rate); they
assume warm caches: the lower-layer states and whole-model scores a run still has to build are
counted once per run by ``prep.shared_cost`` (``Track.shared_cost``), not per cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError, unknown_name
from harness.track import DEFAULT_CELL_MEMORY

# With ``patience``, a run stops ``patience`` evaluations after its best one; the best came at the
# BEST_EVALS-th evaluation on average in the validation pilot (benchmarks/pilot_lm_training.py).
BEST_EVALS = 3.0
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
    """CPU seconds of one cell with warm caches (``harness.models.lm_cost``: each component's FLOPs at its
    measured rate); the states and scores still to build are ``prep.shared_cost``'s."""
    from harness.models.lm_cost import RATES, Sizes, forward_flops, load_seconds, seconds, top_flops
    from harness.tracks.fewshot.lm_train import arm_training, parse_train_layers
    from harness.tracks.fewshot.mlm import is_mlm

    if is_mlm(s.backbone):
        return _mlm_cost(s, recipe)
    shape = _shape(s.backbone)
    arm = arm_training(s, recipe)
    try:
        lora, depth = parse_train_layers(arm.layers)
    except HarnessError:
        return 1.0
    if shape is None:
        return 1.0
    sizes, n_test = Sizes.of(shape), _test_texts(cell)
    pet = recipe.kind == "pet"
    form = plan_form(s, recipe, cell)
    load = load_seconds(sizes)

    def passes(texts: int) -> float:  # the frozen or trained top over cached states, read where scores read
        # a label-last plan's scores read only the labels' rows of the output layer (lm_states.scores_at)
        head = seconds("head", 2.0 * texts * form.reads * sizes.head) if pet and not form.last_only else 0.0
        return seconds("forward", top_flops(sizes, texts * form.tokens, texts * form.reads, depth)) + head

    if recipe.kind == "icl":
        subset = min(s.subset_texts, n_test)
        demos = recipe.demos * form.tokens  # the demonstrations' keys and values: once per cell
        whole = forward_flops(sizes, subset * form.tokens + demos, sizes.layers) + 2.0 * subset * sizes.head
        return load + seconds("forward", whole)
    if pet and not recipe.train:  # a pattern that is not label-last reads whole-model scores (shared work)
        return load + (passes(s.valid_texts + n_test) if form.last_only else 0.0)
    steps = expected_steps(arm.steps, arm.eval_every, s.patience)
    texts = s.batch_size * (1 + recipe.unlabelled_ratio)
    read = s.batch_size * form.reads + recipe.mlm_rate * texts * form.tokens if pet else texts
    step = seconds("train", (2.0 if lora else 3.0) * top_flops(sizes, texts * form.tokens, read, depth))
    step += RATES.step_s + (seconds("head_train", 4.0 * read * sizes.head) if pet else 0.0)
    evals = math.ceil(steps / arm.eval_every)
    return load + steps * step + evals * passes(s.valid_texts) + passes(n_test)


def expected_steps(budget: int, eval_every: int, patience: int) -> float:
    """Steps a run trains: the budget, or with ``patience`` its best evaluation (the pilot's mean) plus
    ``patience`` more, whichever is fewer."""
    if not patience:
        return float(budget)
    return float(min(budget, (BEST_EVALS + patience) * eval_every))


@dataclass(frozen=True)
class PlanForm:
    """Per text, what a cell's top layers run: state tokens (over all its state sequences), positions the
    scores read, and whether every label differs only in its last token (one sequence per text)."""

    tokens: float
    reads: float
    last_only: bool


_FORMS: dict[tuple, PlanForm] = {}


def plan_form(s: Any, recipe: Any, cell: Any) -> PlanForm:
    """The plan's form on 200 validation texts, tokenized with the backbone's tokenizer when it is on disk
    (the head reads one sequence per text, the text before its label word); else ~0.6 tokens per
    character plus the prompt (Qwen on the reviews: a Chinese character is ~0.6-0.7 tokens), label-last."""
    from harness.models.lm_on_disk import tokenizer_if_ready

    name = recipe.pattern or s.pattern
    head = recipe.kind == "head"
    data = (cell.dataset, tuple(sorted(cell.dataset_params.items())))
    key = (s.backbone, name, recipe.verbalizer, head, s.max_chars, data)
    if key not in _FORMS:
        tok = tokenizer_if_ready(s.backbone, extract=True)
        if tok is None:
            _FORMS[key] = PlanForm(0.6 * (s.max_chars or 300) + 24, 1.0, True)
        else:
            from harness.data.cache import load_dataset
            from harness.models.lm_scoring import Pattern, build_plan
            from harness.models.lm_states import label_picks, state_sequences
            from harness.tracks.fewshot.pattern import pattern_words, resolve_pattern

            texts = load_dataset(cell.dataset, cell.dataset_params).valid_texts[:200]
            pattern, words = Pattern(resolve_pattern(name)), pattern_words(name, *recipe.verbalizer)
            plan = build_plan(tok, pattern, texts, words, max_text_chars=s.max_chars)
            n = max(len(texts), 1)
            if head:
                _FORMS[key] = PlanForm(sum(plan.split) / n, 1.0, plan.last_token_only)
            else:
                tokens = sum(len(q) for q in state_sequences(plan)) / n
                _FORMS[key] = PlanForm(tokens, len(label_picks(plan).rows) / n, plan.last_token_only)
    return _FORMS[key]


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
