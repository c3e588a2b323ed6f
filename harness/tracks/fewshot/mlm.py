"""One fewshot cell on a masked LM: the in-harness tiny char MLM / WoBERT (the from-scratch contrast), or a
hub / local Chinese BERT re-indexed into the char vocabulary (``bert:<hub id or folder>``, paper scale).

Protocol: ``[CLS] pattern(text) [SEP]`` with the text truncated to ``max_len`` tokens; PET scores the
label words at the mask; fine-tuning runs every layer (``harness.models.finetune.train_loop``: AdamW,
warmup/decay, best-valid checkpoint); the head is [CLS] -> dropout -> linear.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError
from harness.tracks.fewshot.recipe import FewShotRecipe

MLM_BACKBONES = ("char", "wobert")
# The pretrained MLM is a cached artifact that CPU and GPU runs share: built on the CPU, so both read
# the same weights (and a GPU run does not rebuild what a CPU run cached).
PRETRAINING = "MLM pretraining (a cached artifact shared with CPU runs)"
BERT_PREFIX = "bert:"


def is_mlm(backbone: str) -> bool:
    return backbone in MLM_BACKBONES or backbone.startswith(BERT_PREFIX)


def mlm_backbone(scale: str, name: str) -> tuple[Any, Any]:
    """(BertForMaskedLM private copy, Vocab): a cached artifact of the text stack at ``scale``, or a hub BERT."""
    from harness.models.pretrain import PRESETS, ContinueConfig, continued_mlm, pretrained_char_mlm

    if name.startswith(BERT_PREFIX):
        from harness.models.hub_bert import import_hub_mlm

        return import_hub_mlm(name[len(BERT_PREFIX) :].strip())
    if scale not in PRESETS:
        raise HarnessError(
            f"fewshot: no pretrained MLM for scale {scale!r} (known: {', '.join(PRESETS)}); "
            "use backbone 'bert:<hub id or folder>' for a released Chinese BERT"
        )
    if name == "char":
        model, tok = pretrained_char_mlm(scale)
        return model, tok.kexue_vocab
    if name == "wobert":
        cont = ContinueConfig(arm="mean")  # the tokenization track's default wobert artifact
        if scale == "smoke":
            cont = ContinueConfig(arm="mean", num_words=200, word_min_count=2, steps=4, warmup=1, early_steps=2)
        art = continued_mlm(scale, cont)
        return art.model, art.vocab
    raise HarnessError(f"fewshot: unknown masked-LM backbone {name!r} (allowed: {', '.join(MLM_BACKBONES)}, bert:<id>)")


def run_mlm(
    cell: Any, ctx: Any, data: Any, recipe: FewShotRecipe, s: Any, texts: list[str], labels: list[int]
) -> dict[str, float]:
    from harness.metrics import accuracy
    from harness.models.zh_tokenizers import MASK
    from harness.tracks.fewshot.pattern import encode_pattern, parse_pattern, pattern_words, verbalizer_ids
    from harness.tracks.fewshot.train import pet_predict

    if recipe.kind == "icl":
        raise HarnessError("icl (in-context demonstrations) needs a causal LM backbone, not a masked LM")
    if recipe.calibrate:
        raise HarnessError("calibrate is implemented for causal LM backbones only")
    if s.train_layers != "all":
        raise HarnessError(f"train_layers={s.train_layers!r}: a masked-LM backbone trains every layer ('all')")
    with ctx.cpu_part(PRETRAINING):
        model, vocab = mlm_backbone(cell.scale, s.backbone)
    limit = getattr(model.config, "max_position_embeddings", s.max_len)
    if s.max_len > limit:
        raise HarnessError(f"max_len={s.max_len} exceeds the backbone's {limit} positions: set max_len <= {limit}")
    model.to(ctx.device)
    valid_t, valid_y = data.valid_texts[: s.valid_texts], data.valid_labels[: s.valid_texts]
    out: dict[str, float] = {"test_texts": float(len(data.test_texts))}

    if recipe.kind == "head":
        if recipe.all_labels:
            texts, labels = list(data.train_texts), list(data.train_labels)
        out["labelled_texts"] = float(len(texts))
        steps = s.full_steps if recipe.all_labels else s.steps
        out.update(_head(model, vocab, texts, labels, (valid_t, valid_y), data, s, steps, ctx))
        return out

    name = recipe.pattern or s.pattern
    pattern = parse_pattern(name)
    verbalizer = verbalizer_ids(vocab, pattern_words(name, *recipe.verbalizer))
    index = vocab.index()
    mask_id = index[MASK]

    def encode(tx: list[str]) -> tuple[list[list[int]], list[int]]:
        return encode_pattern(vocab, pattern, tx, s.max_len, index["[CLS]"], index["[SEP]"], mask_id)

    v_rows, v_pos = encode(valid_t)
    if not recipe.train:
        out["labelled_texts"] = 0.0
        out["best_step"] = 0.0
    else:
        out["labelled_texts"] = float(len(texts))
        out.update(
            _pet(model, vocab, encode, texts, labels, verbalizer, recipe, data, s, ctx, (v_rows, v_pos, valid_y))
        )
    out["valid_accuracy"] = accuracy(valid_y, pet_predict(model, v_rows, v_pos, verbalizer))
    t_rows, t_pos = encode(data.test_texts)
    pred = pet_predict(model, t_rows, t_pos, verbalizer)
    ctx.record_predictions(pred, data.test_labels)
    out["test_accuracy"] = accuracy(data.test_labels, pred)
    out["positive_rate"] = sum(pred) / len(pred)
    out["predicted_labels"] = float(len(set(pred)))
    ctx.remember(**out)
    return out


def _pet(
    model: Any,
    vocab: Any,
    encode: Any,
    texts: list[str],
    labels: list[int],
    verbalizer: list[int],
    recipe: FewShotRecipe,
    data: Any,
    s: Any,
    ctx: Any,
    valid: tuple,
) -> dict[str, float]:
    from harness.metrics import accuracy
    from harness.models.finetune import train_loop
    from harness.models.zh_tokenizers import CLS, MASK, SEP, encode_ids
    from harness.tracks.fewshot.train import PetBatchSource, pet_loss, pet_predict

    rows, positions = encode(texts)
    src = PetBatchSource(rows, positions, [verbalizer[y] for y in labels])
    if recipe.unlabelled_ratio > 0:
        chosen = set(texts)
        pool = [t for t in data.train_texts if t not in chosen]  # labels never read
        body = s.max_len - 2
        cls_id, sep_id = vocab.index()[CLS], vocab.index()[SEP]
        src.unlabelled = [[cls_id, *ids[:body], sep_id] for ids in encode_ids(vocab, pool) if ids]
        src.unlabelled_per_step = int(recipe.unlabelled_ratio * min(s.batch_size, len(texts)))
    gen = ctx.generator("mask")
    mask_id = vocab.index()[MASK]
    v_rows, v_pos, v_y = valid

    def step_loss(idx: list[int]) -> Any:
        loss, _ = pet_loss(model, src, idx, mask_id, len(vocab), recipe.mlm_rate, gen)
        return loss

    best, best_step = train_loop(
        model,
        len(rows),
        s.steps,
        s.batch_size,
        s.lr,
        s.eval_every,
        step_loss,
        lambda: accuracy(v_y, pet_predict(model, v_rows, v_pos, verbalizer)),
        ctx,
        patience=s.patience,
    )
    return {"best_step": float(best_step)}


def _head(
    model: Any, vocab: Any, texts: list[str], labels: list[int], valid: tuple, data: Any, s: Any, steps: int, ctx: Any
) -> dict[str, float]:
    import torch
    from torch.nn import functional as F

    from harness.metrics import accuracy
    from harness.models.finetune import train_loop
    from harness.models.pretrain import pad_rows
    from harness.models.tinybert import BertClassifier
    from harness.models.zh_tokenizers import CLS, SEP, encode_ids
    from harness.tracks.fewshot.train import head_predict

    body = s.max_len - 2
    cls_id, sep_id = vocab.index()[CLS], vocab.index()[SEP]

    def rows_of(tx: list[str]) -> list[list[int]]:
        return [[cls_id, *ids[:body], sep_id] for ids in encode_ids(vocab, tx)]

    clf = BertClassifier(model.bert, data.num_classes, seed=ctx.seed("init")).to(ctx.device)
    rows, y = rows_of(texts), torch.tensor(labels, dtype=torch.long)
    v_rows = rows_of(valid[0])

    def step_loss(idx: list[int]) -> Any:
        ids, att, _ = pad_rows([rows[i] for i in idx])
        return F.cross_entropy(clf(ids.to(ctx.device), att.to(ctx.device)), y[idx].to(ctx.device))

    best, best_step = train_loop(
        clf,
        len(rows),
        steps,
        s.batch_size,
        s.lr,
        s.eval_every,
        step_loss,
        lambda: accuracy(valid[1], head_predict(clf, v_rows)),
        ctx,
        patience=s.patience,
    )
    pred = head_predict(clf, rows_of(data.test_texts))
    ctx.record_predictions(pred, data.test_labels)
    out = {
        "valid_accuracy": best,
        "best_step": float(best_step),
        "test_accuracy": accuracy(data.test_labels, pred),
        "positive_rate": sum(pred) / len(pred),
        "predicted_labels": float(len(set(pred))),
    }
    ctx.remember(**out)
    return out
