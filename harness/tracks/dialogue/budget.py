"""What a dialogue cell costs before it runs, and which backbones it can train: said before it is spent.

Why its own module: a cell on a pretrained causal LM costs minutes where the tiny GPT's costs seconds,
and its lower-layer states are shared work a run builds once (counted by ``shared_cost``, not per cell).
The pretrained LM's seconds come from the causal-LM cost model (``harness.models.lm_cost``: FLOPs of each
component at its measured rate), over the cell's own token counts when the backbone's tokenizer is on
disk (the encoded dialogues), else over ~1 token per 1.4 characters.
"""

from __future__ import annotations

import math
from typing import Any

from harness.errors import HarnessError
from harness.track import DEFAULT_CELL_MEMORY

CHARS_PER_TOKEN = 1.4  # Qwen on the chatterbot dialogues, without the tokenizer at hand


def check_backbone(s: Any) -> None:
    """``gpt``, or a causal LM whose top layers ``train_layers`` can train over cached states: anything else
    is a one-line error before any cell runs (exit 2)."""
    if s.backbone == "gpt":
        return
    from harness.models.lm_backbones import family, shape_of, split_spec
    from harness.models.lm_lora import parse_train_layers

    base, int8 = split_spec(s.backbone)
    if family(base) != "causal":
        raise HarnessError(
            f"dialogue backbone {s.backbone!r} is a masked LM: the dialogue track trains a causal LM "
            "('gpt', the tiny GPT from scratch, or a pretrained one such as 'qwen2.5-0.5b')"
        )
    if int8:
        raise HarnessError(f"dialogue backbone {s.backbone!r}: an '+int8' backbone cannot train (drop '+int8')")
    depth = parse_train_layers(s.train_layers)[1]
    try:
        layers = shape_of(base).layers
    except HarnessError:
        return  # a hub model: its depth is known when the cell loads it
    if depth >= layers:
        raise HarnessError(
            f"train_layers={s.train_layers!r}: {s.backbone} has {layers} layers; train at most {layers - 1} "
            "over cached lower-layer states"
        )


def _encoded(s: Any, cell: Any, markers: bool) -> tuple[list[Any], list[Any]] | None:
    """The cell's train and held-out dialogues encoded as it will encode them (None without a tokenizer)."""
    from harness.data.cache import load_dataset
    from harness.models.lm_on_disk import tokenizer_if_ready
    from harness.tracks.dialogue.lm import encode

    tok = tokenizer_if_ready(s.backbone, extract=True)
    if tok is None:
        return None
    data = load_dataset(cell.dataset, cell.dataset_params)
    return [encode(tok, d, markers, s.ctx) for d in data.train], [encode(tok, d, markers, s.ctx) for d in data.valid]


def _markers(fmt: Any) -> bool:
    return fmt.kind == "cdial" or fmt.segments


def cell_cost(s: Any, fmt: Any, cell: Any) -> float:
    """CPU seconds of one cell with its states on disk."""
    if s.backbone == "gpt":
        flops = 6 * s.train_tokens * (12 * s.layers * s.hidden**2 + 2000 * s.hidden)
        return 5.0 + flops / 2e9
    from harness.models.lm_backbones import shape_of
    from harness.models.lm_cost import QWEN_PARAMETERS, RATES, Sizes, load_seconds, seconds, top_flops
    from harness.models.lm_lora import parse_train_layers
    from harness.tracks.dialogue.lm import scoring_samples, training_samples

    try:
        sizes, depth = Sizes.of(shape_of(s.backbone)), parse_train_layers(s.train_layers)[1]
    except HarnessError:
        return 1.0
    enc = _encoded(s, cell, _markers(fmt))
    if enc is None:  # no tokenizer yet: Su's format supervises ~all tokens, pairs ~40% (measured on Qwen)
        share, held, held_read, replies = (0.9 if fmt.kind == "su" else 0.4), 2000.0, 1500.0, 70
        per_sample = 20.0 if fmt.kind == "su" else 15.0
    else:
        train = training_samples(fmt.kind, enc[0])
        score = scoring_samples(enc[1])
        share = sum(len(x.targets) for x in train) / max(sum(x.length for x in train), 1)
        held, held_read = float(sum(x.length for x in score)), float(sum(len(x.targets) for x in score))
        per_sample, replies = sum(x.length for x in train) / max(len(train), 1), len(enc[1])
    tokens, read = float(s.train_tokens), s.train_tokens * share
    steps = tokens / (s.batch_size * per_sample)
    lora = parse_train_layers(s.train_layers)[0]
    train_s = seconds("train", (2.0 if lora else 3.0) * top_flops(sizes, tokens, read, depth))
    train_s += seconds("head_train", 4.0 * read * sizes.head)
    evals = (s.eval_points + 1) * (
        seconds("forward", top_flops(sizes, held, held_read, depth)) + seconds("head", 2.0 * held_read * sizes.head)
    )
    n_replies = min(s.replies or replies, replies)
    # replies are sampled together, one decoding step per token: each step reads every weight once
    sample_s = s.reply_max_len * RATES.generate_s * sizes.parameters / QWEN_PARAMETERS
    sample_s += seconds("forward", 2.0 * n_replies * 20 * sizes.parameters)  # the prompts, ~20 tokens each
    return load_seconds(sizes) + train_s + steps * RATES.step_s + evals + sample_s


def shared_cost(track: Any, cells: list[Any]) -> dict[str, float]:
    """Core-seconds of the lower-layer states the pending pretrained-LM cells will build (chunks not on disk),
    counted once per (backbone, marker mode, layer)."""
    from harness.models import lm_store
    from harness.models.lm_backbones import shape_of
    from harness.models.lm_cost import RATES, Sizes
    from harness.models.lm_lora import parse_train_layers
    from harness.models.lm_on_disk import folder_pending

    work: dict[str, tuple[int, int]] = {}
    folders, sizes = set(), {}
    seen = set()
    for cell in cells:
        s, fmt = track.settings(cell), track.recipe(cell)
        if s.backbone == "gpt":
            continue
        key = (s.backbone, s.train_layers, _markers(fmt), cell.dataset, tuple(sorted(cell.dataset_params.items())))
        if key in seen:
            continue
        seen.add(key)
        shape = shape_of(s.backbone)
        sizes[s.backbone] = Sizes.of(shape)
        layer = shape.layers - parse_train_layers(s.train_layers)[1]
        if folder_pending(s.backbone):
            folders.add(s.backbone)
        enc = _encoded(s, cell, _markers(fmt))
        if enc is None:
            work[f"guess|{key}"] = (int(12_000 / CHARS_PER_TOKEN), layer)
            continue
        weights = lm_store.weights_id(s.backbone)
        for part in enc:
            lm_store.add_state_work(work, weights, [e.ids for e in part], layer)
    if not work:
        return {}
    layer_params = max((z.layer for z in sizes.values()), default=0)
    flops = sum(2.0 * t * n * layer_params for t, n in work.values())
    return {"building dialogue states": flops / RATES.forward + RATES.folder_s * len(folders)}


def cell_memory(s: Any) -> int:
    """Peak bytes: the tiny GPT's default, or the pretrained LM's weights, states and a training step."""
    if s.backbone == "gpt":
        return DEFAULT_CELL_MEMORY
    from harness.models.lm_backbones import memory_estimate, shape_of
    from harness.models.lm_lora import parse_train_layers

    try:
        shape, depth = shape_of(s.backbone), parse_train_layers(s.train_layers)[1]
    except HarnessError:
        return DEFAULT_CELL_MEMORY
    tokens = s.batch_size * s.ctx
    states = 4 * shape.hidden * 2 * 15_000  # train and held-out dialogues' states, fp32, generous
    train = memory_estimate(
        s.backbone,
        "train",
        batch_size=s.batch_size,
        seq_len=s.ctx,
        trainable_parameters=depth * 8 * (8 * shape.hidden + 3 * (shape.hidden + shape.intermediate)),
        trainable_layers=depth,
        logit_positions=tokens,
    )
    return train + states + math.ceil(0.1 * train)
