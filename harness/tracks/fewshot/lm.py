"""One fewshot cell on a pretrained causal LM (Qwen, gemma, a local folder or .gguf): zero-shot, in-context, PET, head.

Protocol (every method of a block sees the same texts; each arm trains the layers, lr and steps of its
own settings, ``lm_train.arm_training``):

* texts are cut to ``max_chars`` characters; validation = the first ``valid_texts`` of the split; test =
  the dataset's whole test split (the suite picks a fixed subset with ``eval_per_class``); the first
  ``subset_texts`` test texts are the subset every method reports (``subset_accuracy``), and the only
  texts ``icl`` scores (its long prompts reuse no cached state);
* a label's score is the log-likelihood of the pattern filled with its word (``harness.models.lm_scoring``);
* training runs the arm's top layers (``train_layers``, ``head_layers``, ``full_layers``) over lower-layer
  states cached on disk per (weights, layer, token sequence) and shared by every cell
  (``harness.models.lm_store``): the test texts' states are built once per pattern and layer, not once
  per cell; the checkpoint with the best validation accuracy (every ``eval_every`` steps) is tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.tracks.fewshot.recipe import FewShotRecipe


@dataclass
class Env:
    """What every causal-LM cell sets up once: the model, its tokenizer, the pattern and the split texts."""

    model: Any
    tok: Any
    weights: str
    pad_id: int
    layer: int
    lora: bool
    pattern: Any
    words: tuple[str, str]
    cut: int
    batch: int
    device: str = "cpu"


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def setup(spec: str, recipe: FewShotRecipe, s: Any, scale: str, device: str = "cpu", precision: str = "fp32") -> Env:
    """The backbone on ``device``; frozen-model work is cached per weights, and per device type and
    precision off the CPU's fp32 (a GPU's states differ in the last bits: never mixed into a CPU run)."""
    from harness.models import lm_backbones, lm_scoring, lm_store
    from harness.tracks.fewshot.lm_train import arm_training, parse_train_layers
    from harness.tracks.fewshot.pattern import pattern_words, resolve_pattern

    layers = arm_training(s, recipe).layers
    lora, top = parse_train_layers(layers)
    name = recipe.pattern or s.pattern
    pattern = lm_scoring.Pattern(resolve_pattern(name))
    words = pattern_words(name, *recipe.verbalizer)
    weights = lm_store.weights_id(spec)  # resolves the spec: a missing path fails here, one line
    kind = device.split(":")[0]
    if kind != "cpu" or precision != "fp32":
        weights += f"@{kind}-{precision}"
    _quiet_transformers()
    model, tok = lm_backbones.load_backbone(spec, scale=scale)
    model.to(device)
    n = model.config.num_hidden_layers
    if top >= n:
        raise HarnessError(f"trained layers {layers!r}: the backbone has only {n} layers (train fewer)")
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm_scoring.start_token_id(tok)
    return Env(model, tok, weights, pad, n - top, lora, pattern, words, s.max_chars, 8, device)


def plan_of(env: Env, texts: list[str], context: str = "") -> Any:
    from harness.models.lm_scoring import build_plan

    return build_plan(env.tok, env.pattern, texts, env.words, context=context, max_text_chars=env.cut)


def plan_states(env: Env, texts: list[str], head: bool = False) -> Any:
    """The pattern's plan for ``texts`` and the lower-layer states of its state sequences (``head``: of
    each text's tokens before the label word) from the shared disk cache."""
    from harness.models.lm_states import state_sequences, to_device
    from harness.models.lm_store import shared_lower_states
    from harness.tracks.fewshot.lm_train import PlanStates, head_sequences

    plan = plan_of(env, texts)
    seqs = head_sequences(plan) if head else state_sequences(plan)
    states = shared_lower_states(env.weights, env.model, seqs, env.layer, batch_size=env.batch, pad_id=env.pad_id)
    return PlanStates(plan, to_device(states, env.device), seqs, one_per_text=head)


def frozen_scores(env: Env, texts: list[str]) -> Any:
    """Zero-shot option scores: a label-last pattern through the shared states + the frozen top layers (the
    same states every training cell reuses); any other pattern through the full model, stored per chunk."""
    from harness.models.lm_states import TopLayers
    from harness.models.lm_store import shared_option_scores
    from harness.tracks.fewshot.lm_train import pet_scores

    plan = plan_of(env, texts)
    if plan.last_token_only:
        return pet_scores(TopLayers(env.model, env.layer), plan_states(env, texts))
    return shared_option_scores(env.weights, env.model, plan, batch_size=env.batch, pad_id=env.pad_id)


def summary(scores: Any, labels: list[int], subset: int, prefix: str = "test") -> dict[str, float]:
    """Accuracy, the share predicted positive, how many labels are ever predicted, and the subset's accuracy."""
    pred = scores.argmax(-1).tolist()
    hits = [int(p == y) for p, y in zip(pred, labels)]
    out = {
        f"{prefix}_accuracy": sum(hits) / len(hits),
        f"{prefix}_texts": float(len(hits)),
        "positive_rate": sum(pred) / len(pred),
        "predicted_labels": float(len(set(pred))),
    }
    if subset:
        out["subset_accuracy"] = sum(hits[:subset]) / len(hits[:subset])
    return out


def _accuracy(scores: Any, labels: list[int]) -> float:
    pred = scores.argmax(-1).tolist()
    return sum(int(p == y) for p, y in zip(pred, labels)) / max(1, len(labels))


def _calibrate(env: Env, scores: Any, context: str = "") -> Any:
    from harness.models.lm_scoring import CONTENT_FREE, calibrated, option_scores

    cf = option_scores(
        env.model, env.tok, list(CONTENT_FREE), env.pattern, env.words, context=context, max_text_chars=env.cut
    )
    return calibrated(scores, cf)


def run_lm(
    cell: Any, ctx: Any, data: Any, recipe: FewShotRecipe, s: Any, k_texts: list[str], k_labels: list[int]
) -> dict[str, float]:
    """Metrics of one causal-LM cell (the caller drew the seed's K texts)."""
    from harness.models.lm_backbones import split_spec

    env = setup(s.backbone, recipe, s, cell.scale, ctx.device, ctx.precision)
    if split_spec(s.backbone)[1] and (recipe.train or recipe.kind == "head"):
        raise HarnessError("an '+int8' backbone is inference-only (zero-shot, icl): its quantised layers cannot train")
    valid_t, valid_y = data.valid_texts[: s.valid_texts], data.valid_labels[: s.valid_texts]
    test_t, test_y = list(data.test_texts), list(data.test_labels)
    subset = min(s.subset_texts, len(test_t))
    out: dict[str, float] = {"labelled_texts": float(len(k_texts)), "best_step": 0.0}

    if recipe.kind == "icl":
        out.update(_icl(env, recipe, k_texts, k_labels, test_t[:subset], test_y[:subset], ctx))
        out["labelled_texts"] = float(recipe.demos)
        ctx.remember(**out)
        return out
    if recipe.kind == "pet" and not recipe.train:
        out["labelled_texts"] = 0.0
        valid, test = frozen_scores(env, valid_t), frozen_scores(env, test_t)
        if recipe.calibrate:
            valid, test = _calibrate(env, valid), _calibrate(env, test)
        out["valid_accuracy"] = _accuracy(valid, valid_y)
        out.update(summary(test, test_y, subset))
        ctx.record_predictions(test.argmax(-1), test_y)  # ids 0..n-1: the test split's texts
        ctx.remember(**out)
        return out
    if recipe.calibrate:
        raise HarnessError("calibrate applies to zero-shot and in-context scores, not to a trained model")
    if recipe.kind == "head" and recipe.all_labels:
        cap = s.full_texts or len(data.train_texts)
        k_texts, k_labels = list(data.train_texts[:cap]), list(data.train_labels[:cap])
        out["labelled_texts"] = float(len(k_texts))
    out.update(_train(env, recipe, s, data, k_texts, k_labels, (valid_t, valid_y), ctx))
    return _finish(out, test_y, subset, ctx)


def _finish(out: dict, test_y: list[int], subset: int, ctx: Any) -> dict[str, float]:
    test = out.pop("_test_scores")
    out.update(summary(test, test_y, subset))
    ctx.record_predictions(test.argmax(-1), test_y)  # ids 0..n-1: the test split's texts
    ctx.remember(**out)
    return out


def _icl(
    env: Env, recipe: FewShotRecipe, k_texts: list[str], k_labels: list[int], texts: list[str], labels: list[int], ctx
) -> dict[str, float]:
    """GPT-3-style: ``demos`` balanced examples from the seed's K (axis "demos") in the prompt, then each text."""
    from harness.models.lm_scoring import icl_context, score_plan
    from harness.tracks.fewshot import sampling

    if recipe.demos > len(k_texts):
        raise HarnessError(f"icl: demos={recipe.demos} but the seed's K has only {len(k_texts)} labelled texts")
    d_texts, d_labels = sampling.sample_k(k_texts, k_labels, recipe.demos, ctx.seed("demos"))
    cut = env.cut or None
    context = icl_context(env.pattern, [(t[:cut], env.words[y]) for t, y in zip(d_texts, d_labels)])
    scores = score_plan(env.model, plan_of(env, texts, context), env.batch, env.pad_id)
    if recipe.calibrate:
        scores = _calibrate(env, scores, context)
    # the first len(labels) test texts: the same ids as those texts in the full-set methods' files
    ctx.record_predictions(scores.argmax(-1), labels, ids=range(len(labels)))
    return summary(scores, labels, len(labels))


def _unlabelled(env: Env, texts: list[str]) -> list[tuple[list[int], Any]]:
    """(token sequence, lower states) of unlabelled texts: start token + the cut text, no pattern."""
    from harness.models.lm_scoring import start_token_id
    from harness.models.lm_states import to_device
    from harness.models.lm_store import shared_lower_states

    start = start_token_id(env.tok)
    seqs = [[start, *env.tok(t[: env.cut or None], add_special_tokens=False)["input_ids"]] for t in texts]
    seqs = [q for q in seqs if len(q) >= 2]
    states = shared_lower_states(env.weights, env.model, seqs, env.layer, batch_size=env.batch, pad_id=env.pad_id)
    return list(zip(seqs, to_device(states, env.device)))


def _train(
    env: Env,
    recipe: FewShotRecipe,
    s: Any,
    data: Any,
    texts: list[str],
    labels: list[int],
    valid: tuple,
    ctx,
    test: bool = True,
) -> dict[str, Any]:
    """Train one arm; its metrics and (``test``) the best checkpoint's test scores under ``_test_scores``.
    ``test=False`` never touches the test texts (the validation pilot, benchmarks/pilot_lm_training.py)."""
    import torch

    from harness.models.finetune import train_loop
    from harness.tracks.fewshot import lm_train

    head = recipe.kind == "head"
    arm = lm_train.arm_training(s, recipe)
    train = plan_states(env, texts, head)
    valid_states = plan_states(env, valid[0], head)
    top, n_params = lm_train.make_trainable(env.model, env.layer, env.lora, ctx.seed("init"))
    out: dict[str, Any] = {"trained_parameters": float(n_params)}
    gen = ctx.generator("mask")
    if head:
        module = lm_train.HeadOnTop(top, data.num_classes, ctx.seed("head")).to(env.device)
        out["trained_parameters"] += sum(p.numel() for p in module.head.parameters())

        def step_loss(idx: list[int]) -> Any:
            return lm_train.head_step_loss(module, train, labels, idx)

        def score(states: Any) -> Any:
            return lm_train.head_scores(module, states)
    else:
        module = top
        pool: list = []
        per_step = 0
        if recipe.unlabelled_ratio > 0:
            pool = _unlabelled(env, list(data.train_texts[: s.unlabelled_texts]))  # labels never read
            per_step = max(1, round(recipe.unlabelled_ratio * min(s.batch_size, len(texts))))

        def step_loss(idx: list[int]) -> Any:
            extra = []
            if pool:
                pick = torch.randint(0, len(pool), (per_step,), generator=gen).tolist()
                extra = [pool[i] for i in pick]
            return lm_train.pet_step_loss(top, train, labels, idx, recipe.mlm_rate, gen, extra)

        def score(states: Any) -> Any:
            return lm_train.pet_scores(top, states)

    best, best_step = train_loop(
        module,
        len(texts),
        arm.steps,
        s.batch_size,
        arm.lr,
        arm.eval_every,
        step_loss,
        lambda: _accuracy(score(valid_states), valid[1]),
        ctx,
        lengths=train.lengths(),
        patience=s.patience,
    )
    trained = max((step for step, _ in ctx.curves.get("valid_accuracy", [])), default=0)
    out.update(valid_accuracy=best, best_step=float(best_step), trained_steps=float(trained))
    if test:
        out["_test_scores"] = score(plan_states(env, list(data.test_texts), head))
    return out
