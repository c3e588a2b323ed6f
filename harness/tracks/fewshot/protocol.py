"""The fewshot track: PET (cloze patterns on a masked LM) versus a classifier head (Su 2020, Schick & Schuetze).

Question: with K labelled reviews, is it better to turn classification into the MLM's own task (a
pattern such as ``__满意。{x}`` whose masked slot the model fills with 很 "very" or 不 "not") than to
put a fresh linear head on [CLS]? And does the pattern alone, with no labels, already classify?

Protocol (identical for every method; only the objective differs):

1. Backbone: the cached tiny character MLM of the Chinese text stack at the cell's scale
   (``pretrained_char_mlm(scale)``, shared with the tokenization track), or its WoBERT
   continuation (``backbone = "wobert"``, the tokenization track's ``wobert`` artifact).
2. K labelled texts (``k``; 0 = 1% of the train split, Su's share, 127 texts) are drawn from the
   train split per seed (axis "sample"), class-balanced (K // 2 per class, an odd one to a random
   class); the same seed gives every method the same K
   texts, the same batch order (axis "data") and the same dropout draws (axis "init").
3. Fine-tune ``steps`` steps (AdamW, warmup/decay); every ``eval_every`` steps score the first
   ``valid_texts`` validation texts and keep the best checkpoint (Su keeps the best-valid epoch);
   test on the whole test split. ``pet-zero`` trains nothing; ``full`` trains a head on every train
   label for ``full_steps`` steps (the supervised ceiling).

Why K is a Settings knob rather than a dataset or method parameter: K is protocol shared by all
methods of a comparison (methods are compared at equal K, seed by seed), while the dataset belongs
to the text stack and means "which texts". A setting enters the run key, and the leaderboard and
claims treat each K as its own comparison ("sentiment · k=16"); one suite block per K.

Metrics: ``test_accuracy`` (primary), ``valid_accuracy`` (best, the selection criterion),
``labelled_texts`` (K actually used), ``best_step``, ``test_texts``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from harness.errors import HarnessError
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.fewshot.recipe import FewShotRecipe

BACKBONES = ("char", "wobert")
SU_LABEL_SHARE = 0.01  # Su's train_frac: the default K is this share of the train split


@track("fewshot")
class FewShot(Track):
    """PET pattern-MLM fine-tuning, zero-shot and semi-supervised, versus a [CLS] head."""

    primary = "test_accuracy"
    metrics = (
        Metric("test_accuracy", True, "test accuracy"),
        Metric("valid_accuracy", True, "best validation accuracy"),
        Metric("labelled_texts", True, "labelled training texts (K)", ".0f"),
        Metric("best_step", True, "step of the best validation accuracy", ".0f"),
        Metric("test_texts", True, "test texts", ".0f"),
        # Diagnostic: 0 or 1 means the model answers one label for every text (a biased verbalizer).
        Metric("positive_rate", True, "share of test texts predicted positive", ".3f"),
    )
    secondary = ("valid_accuracy",)
    recipe_type = FewShotRecipe

    @dataclasses.dataclass
    class Settings:
        k: int = 0  # labelled texts drawn per seed; 0 = 1% of the train split (Su's train_frac)
        steps: int = 100  # fine-tuning steps (pattern or head)
        full_steps: int = 300  # steps of the all-labels ceiling
        batch_size: int = 16
        lr: float = 2e-3  # tiny from-scratch MLM: 5e-4 barely moves it in 100 steps (measured)
        max_len: int = 128
        eval_every: int = 20
        valid_texts: int = 500
        backbone: str = "char"

    settings_bounds = {
        "k": (0, None),
        "steps": (1, None),
        "full_steps": (1, None),
        "batch_size": (1, None),
        "lr": (0, None),
        "max_len": (8, 512),
        "eval_every": (1, None),
        "valid_texts": (1, None),
    }
    settings_choices = {"backbone": BACKBONES}

    # --- backbone ----------------------------------------------------------------------------------
    @staticmethod
    def backbone(scale: str, name: str) -> tuple[Any, Any]:
        """(BertForMaskedLM private copy, Vocab) for a scale preset; cached artifacts of the stack."""
        from harness.models.pretrain import PRESETS, ContinueConfig, continued_mlm, pretrained_char_mlm

        if scale not in PRESETS:
            raise HarnessError(
                f"fewshot: no pretrained MLM for scale {scale!r} (known: {', '.join(PRESETS)}); "
                "a hub Chinese BERT is not available offline"
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
        raise HarnessError(f"fewshot: unknown backbone {name!r} (allowed: {', '.join(BACKBONES)})")

    # --- one cell ----------------------------------------------------------------------------------
    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.models.zh_tokenizers import MASK
        from harness.tracks.fewshot.pattern import encode_pattern, parse_pattern, verbalizer_ids

        s = self.settings(cell)
        data = self.load_data(cell)
        if not data.train_texts or not data.valid_texts or not data.test_texts:
            raise HarnessError(f"fewshot needs non-empty train/valid/test splits ({cell.dataset_selector})")
        recipe: FewShotRecipe = self.recipe(cell)
        model, vocab = self.backbone(cell.scale, s.backbone)
        model.to(ctx.device)
        k = s.k or max(data.num_classes, round(SU_LABEL_SHARE * len(data.train_texts)))
        texts, labels = sample_k(data.train_texts, data.train_labels, k, ctx.seed("sample"), data.num_classes)
        valid_t, valid_y = data.valid_texts[: s.valid_texts], data.valid_labels[: s.valid_texts]
        out: dict[str, float] = {"test_texts": float(len(data.test_texts))}

        if recipe.kind == "head":
            if recipe.all_labels:
                texts, labels = list(data.train_texts), list(data.train_labels)
            out["labelled_texts"] = float(len(texts))
            steps = s.full_steps if recipe.all_labels else s.steps
            out.update(self._head(model, vocab, texts, labels, (valid_t, valid_y), data, s, steps, ctx))
            return out

        pattern = parse_pattern(recipe.pattern)
        verbalizer = verbalizer_ids(vocab, recipe.verbalizer)
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
                self._pet(
                    model, vocab, encode, texts, labels, verbalizer, recipe, data, s, ctx, (v_rows, v_pos, valid_y)
                )
            )
        from harness.metrics import accuracy
        from harness.tracks.fewshot.train import pet_predict

        out["valid_accuracy"] = accuracy(valid_y, pet_predict(model, v_rows, v_pos, verbalizer))
        t_rows, t_pos = encode(data.test_texts)
        pred = pet_predict(model, t_rows, t_pos, verbalizer)
        out["test_accuracy"] = accuracy(data.test_labels, pred)
        out["positive_rate"] = sum(pred) / len(pred)
        ctx.remember(**out)
        return out

    def _pet(
        self,
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
        )
        return {"best_step": float(best_step)}

    def _head(
        self,
        model: Any,
        vocab: Any,
        texts: list[str],
        labels: list[int],
        valid: tuple,
        data: Any,
        s: Any,
        steps: int,
        ctx: Any,
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
        )
        pred = head_predict(clf, rows_of(data.test_texts))
        out = {
            "valid_accuracy": best,
            "best_step": float(best_step),
            "test_accuracy": accuracy(data.test_labels, pred),
            "positive_rate": sum(pred) / len(pred),
        }
        ctx.remember(**out)
        return out

    def cost(self, cell: Any) -> float:
        """CPU seconds (measured with process_time on a loaded core, quick model): 0.19 s per
        step at batch 16 (pet-semi 0.44 s: a second batch of unlabelled texts), 1.1 s per 500
        validation texts scored, ~9 s to load the backbone and data and to test 2,000 texts."""
        s = self.settings(cell)
        name = cell.method
        if name == "pet-zero":
            return 8.0
        steps = s.full_steps if name == "full" else s.steps
        per_step = 0.19 * s.batch_size / 16 * (2.3 if name == "pet-semi" else 1)
        evals = math.ceil(steps / s.eval_every) * 1.1 * s.valid_texts / 500
        return 9.0 + steps * per_step + evals

    # --- claims and figures ------------------------------------------------------------------------
    def claims(self) -> list[Any]:
        from harness.tracks.fewshot.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.fewshot.figures import k_figure

        fig = k_figure(table, self.name)
        return (
            [
                (
                    "Test accuracy against the number of labelled texts K (mean and 95% CI over seeds; "
                    "dashed: zero-shot and all-labels references)",
                    fig,
                )
            ]
            if fig
            else []
        )


def sample_k(
    texts: list[str], labels: list[int], k: int, seed: int, num_classes: int = 2
) -> tuple[list[str], list[int]]:
    """K class-balanced labelled texts drawn with a seed (axis "sample"): K // C per class, the
    remainder to randomly chosen classes; shuffled. Identical for every method of a seed."""
    import torch

    if k > len(texts):
        raise HarnessError(f"fewshot: K={k} labelled texts requested but the train split has only {len(texts)}")
    if k < num_classes:
        raise HarnessError(f"fewshot: K={k} is smaller than the number of classes ({num_classes})")
    g = torch.Generator()
    g.manual_seed(seed)
    per = [k // num_classes] * num_classes
    for c in torch.randperm(num_classes, generator=g)[: k % num_classes].tolist():
        per[c] += 1
    keep: list[int] = []
    for c in range(num_classes):
        idx = [i for i, y in enumerate(labels) if y == c]
        if len(idx) < per[c]:
            raise HarnessError(f"fewshot: K={k} needs {per[c]} texts of class {c}; the train split has {len(idx)}")
        keep += [idx[j] for j in torch.randperm(len(idx), generator=g)[: per[c]].tolist()]
    keep = [keep[j] for j in torch.randperm(len(keep), generator=g).tolist()]
    return [texts[i] for i in keep], [labels[i] for i in keep]
