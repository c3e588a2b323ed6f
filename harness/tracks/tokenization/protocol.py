"""The tokenization track: WoBERT (word-level Chinese BERT) versus a character BERT (Su 2020).

Question: does a word vocabulary (char vocab + frequent jieba words) shorten sequences and speed
up a Chinese BERT without losing accuracy, and does starting each word's embedding at the mean of
its characters' embeddings matter?

Protocol (same for every method; only the vocabulary and word-row init differ):

1. A char MLM is pretrained once on the corpus of ``harness.data.chinese`` (People's Daily 1998 +
   Three Kingdoms + train-split reviews), a cached artifact shared by all cells and by the fewshot
   track (``harness.models.pretrain``).
2. Each method continues MLM from it for ``continue_steps`` steps on the same texts: ``char-bert``
   with its char vocabulary (so pretraining compute is equal), ``wobert`` with the word vocabulary
   and mean-of-chars word rows, ``wobert-random-init`` with random word rows. Encoders have equal
   size; only the embedding table grows with the vocabulary. The continued pretraining is one
   independent run per arm and cell seed (new-row init and MLM batches; cached and shared by the
   label fractions of that seed), so comparisons between arms have n = seeds, not n = 1; the
   shared char MLM is the common starting point of every arm.
3. Fine-tune a classifier head (mean-pooled states by default, ``pooling="cls"`` for BERT's [CLS])
   on the sentiment train split (``label_fraction`` of it, a class-balanced draw per seed),
   ``finetune_steps`` steps of ``batch_size`` texts; the checkpoint with the best validation
   accuracy is tested. The quick defaults (150 steps of 16, mean pooling) were chosen on
   validation accuracy among equal-compute options so the 27-cell quick block fits 5 minutes.

Metrics: test ``accuracy`` (primary); ``tokens_per_text`` on the test texts (no truncation);
``train_tps_L`` / ``infer_tps_L``: texts per second of a training step (forward + backward +
AdamW) and of a forward pass, on a batch of texts of exactly L = 128/256/512 characters;
``speedup_train_L`` / ``speedup_infer_L``: the same timings relative to the cell's char twin
(same encoder, char vocabulary, char tokens of the same texts), timed interleaved in the cell
so machine load cancels (``char-bert``'s twin is itself: its ~1.00 is the noise floor);
``mlm_bpc``: held-out MLM bits per character of the pretrained model (masked-token NLL divided by
the characters those tokens spell, so vocabularies compare; seeds resample the held-out texts and
masks), and ``mlm_bpc_early`` for the checkpoint after ``early_steps`` of continued pretraining.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import HarnessError
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.tokenization.evaluation import accuracy, encode_ids, predict
from harness.tracks.tokenization.recipe import VocabRecipe
from harness.tracks.tokenization.speed import SPEED_LENGTHS, throughput

# Pretraining and its held-out bits per character run on the CPU: the pretrained MLMs are cached
# artifacts that CPU and GPU runs share, so both fine-tune (and report bits/char of) the same weights.
PRETRAINING = "MLM pretraining and its held-out bits per character (cached artifacts shared with CPU runs)"


# version 2: speed measured against the char twin inside each cell; fine-tuning with mean pooling, batch 16.
# version 3: one continued-pretraining run per cell seed (was one per arm).
@track("tokenization", version=3)
class Tokenization(Track):
    """WoBERT vs char BERT: sequence length, speed, accuracy, and the mean-of-chars init."""

    primary = "accuracy"
    # BERT dropout draws from the GPU's generator, and the smoke accuracy is over 40 texts (1 text = 0.025)
    device_tolerance = (0.15, 0.0)
    recipe_type = VocabRecipe
    metrics = (
        Metric("accuracy", True, "test accuracy"),
        Metric("valid_accuracy", True, "best validation accuracy"),
        Metric("tokens_per_text", False, "mean tokens per test text", ".2f"),
        Metric("chars_per_token", True, "characters per token", ".3f"),
        *(Metric(f"train_tps_{n}", True, f"training throughput at {n} chars (texts/s)", ".1f") for n in SPEED_LENGTHS),
        *(Metric(f"infer_tps_{n}", True, f"inference throughput at {n} chars (texts/s)", ".1f") for n in SPEED_LENGTHS),
        *(
            Metric(f"speedup_train_{n}", True, f"training speed-up over the char twin at {n} chars", ".3f")
            for n in SPEED_LENGTHS
        ),
        *(
            Metric(f"speedup_infer_{n}", True, f"inference speed-up over the char twin at {n} chars", ".3f")
            for n in SPEED_LENGTHS
        ),
        Metric("mlm_bpc", False, "held-out MLM bits per character", ".3f"),
        Metric("mlm_bpc_early", False, "MLM bits per character early in continued pretraining", ".3f"),
        Metric("vocab_size", True, "vocabulary size", ".0f"),
        Metric("encoder_params", True, "encoder parameters (no embeddings)", ".0f"),
        Metric("labelled_texts", True, "labelled training texts", ".0f"),
        Metric("continue_seed", True, "continued-pretraining run (seed)", ".0f"),
    )
    secondary = ("tokens_per_text", "speedup_infer_512", "mlm_bpc")

    @dataclasses.dataclass
    class Settings:
        # Encoder (equal for every method) and pretraining; defaults = the "quick" preset.
        layers: int = 2
        hidden: int = 128
        heads: int = 2
        corpus_chars: int = 0
        pretrain_steps: int = 1000
        pretrain_batch: int = 32
        pretrain_lr: float = 1e-3
        continue_steps: int = 300
        continue_lr: float = 5e-4
        early_steps: int = 30
        # Paper scale: a hub Chinese BERT (hub id or local folder) replaces the pretrained tiny char
        # MLM; layers/hidden/heads and the pretraining settings are then ignored.
        hub_model: str = ""
        # Fine-tuning.
        finetune_steps: int = 150
        batch_size: int = 16
        lr: float = 5e-4
        pooling: str = "mean"
        max_len: int = 128
        eval_every: int = 50
        valid_texts: int = 300
        # Measurements.
        speed_batch: int = 4
        speed_reps: int = 2
        heldout_texts: int = 200

    settings_choices = {"pooling": ("cls", "mean")}
    settings_bounds = {
        "layers": (1, 24),
        "hidden": (8, None),
        "heads": (1, None),
        "corpus_chars": (0, None),
        "pretrain_steps": (1, None),
        "pretrain_batch": (1, None),
        "pretrain_lr": (0, None),
        "continue_steps": (1, None),
        "continue_lr": (0, None),
        "early_steps": (1, None),
        "finetune_steps": (1, None),
        "batch_size": (1, None),
        "lr": (0, None),
        "max_len": (4, 512),
        "eval_every": (1, None),
        "valid_texts": (1, None),
        "speed_batch": (1, None),
        "speed_reps": (1, None),
        "heldout_texts": (1, None),
    }

    # --- configuration ---------------------------------------------------------------------------
    @staticmethod
    def pretrain_config(s: Any) -> Any:
        """The char-MLM recipe of these settings (the defaults give exactly the ``quick`` preset)."""
        from harness.models.pretrain import PretrainConfig
        from harness.models.tinybert import TinyBertConfig

        if s.hub_model:
            from harness.models.hub_bert import hub_config

            model = hub_config(s.hub_model)
            return PretrainConfig(
                model,
                corpus_chars=s.corpus_chars,
                batch_size=s.pretrain_batch,
                max_len=min(128, model.max_positions),
                hub_model=s.hub_model,
            )
        if s.hidden % s.heads:
            raise HarnessError(f"tokenization: hidden={s.hidden} must be divisible by heads={s.heads}")
        return PretrainConfig(
            TinyBertConfig(layers=s.layers, hidden=s.hidden, heads=s.heads, max_positions=max(SPEED_LENGTHS) + 8),
            corpus_chars=s.corpus_chars,
            steps=s.pretrain_steps,
            batch_size=s.pretrain_batch,
            lr=s.pretrain_lr,
            warmup=max(1, s.pretrain_steps // 10),
            ckpt_every=max(1, min(100, s.pretrain_steps // 5)),
        )

    @staticmethod
    def continue_config(s: Any, recipe: VocabRecipe, seed: int = 0) -> Any:
        from harness.models.pretrain import ContinueConfig

        if s.early_steps > s.continue_steps:
            raise HarnessError(f"tokenization: early_steps={s.early_steps} exceeds continue_steps={s.continue_steps}")
        return ContinueConfig(
            steps=s.continue_steps,
            lr=s.continue_lr,
            warmup=max(1, s.continue_steps // 10),
            early_steps=s.early_steps,
            seed=seed,
            **dataclasses.asdict(recipe),
        )

    # --- one cell --------------------------------------------------------------------------------
    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import random

        from harness.data.chinese import sample_labelled
        from harness.metrics import accuracy as score
        from harness.models.pretrain import continued_mlm, mlm_bits_per_char
        from harness.models.tinybert import BertClassifier, count_parameters

        s = self.settings(cell)
        data = self.load_data(cell)
        if not data.train_texts or not data.test_texts or not data.valid_texts:
            raise HarnessError(f"tokenization needs non-empty train/valid/test splits ({cell.dataset_selector})")
        recipe: VocabRecipe = self.recipe(cell)
        cfg = self.pretrain_config(s)
        with ctx.cpu_part(PRETRAINING):
            art = continued_mlm(cfg, self.continue_config(s, recipe, seed=cell.seed))
        s = dataclasses.replace(s, max_len=min(s.max_len, cfg.model.max_positions))  # a hub model may be shorter
        vocab = art.vocab
        out: dict[str, float] = {"vocab_size": float(len(vocab)), "continue_seed": float(cell.seed)}

        # Held-out MLM bits per character (before fine-tuning touches the encoder).
        rng = random.Random(ctx.seed("sample"))
        held = rng.sample(data.test_texts, min(s.heldout_texts, len(data.test_texts)))
        with ctx.cpu_part(PRETRAINING):
            out["mlm_bpc"] = mlm_bits_per_char(art.model, vocab, held, seed=ctx.seed("sample"), max_len=s.max_len)
            out["mlm_bpc_early"] = mlm_bits_per_char(
                art.early_model, vocab, held, seed=ctx.seed("sample"), max_len=s.max_len
            )

        test_ids = encode_ids(vocab, data.test_texts)
        n_tokens = sum(len(t) for t in test_ids)
        n_chars = sum(len("".join(t.split())) for t in data.test_texts)
        out["tokens_per_text"] = n_tokens / len(test_ids)
        out["chars_per_token"] = n_chars / max(1, n_tokens)

        frac = float((data.meta or {}).get("label_fraction", 1.0))
        tr_texts, tr_labels = sample_labelled(
            data.train_texts, data.train_labels, frac, ctx.seed("sample"), data.num_classes
        )
        out["labelled_texts"] = float(len(tr_texts))
        clf = BertClassifier(art.model.bert, data.num_classes, seed=ctx.seed("init"), pooling=s.pooling).to(ctx.device)
        out["encoder_params"] = float(count_parameters(clf.encoder, exclude_embeddings=True))
        valid = (encode_ids(vocab, data.valid_texts[: s.valid_texts]), data.valid_labels[: s.valid_texts])
        train_ids = dict(zip(data.train_texts, encode_ids(vocab, data.train_texts)))  # split encoded once
        best_valid = self._finetune(clf, [train_ids[t] for t in tr_texts], tr_labels, valid, s, ctx)
        out["valid_accuracy"] = best_valid
        test_pred = predict(clf, test_ids, s.max_len, ctx.device)
        ctx.record_predictions(test_pred, data.test_labels)
        out["accuracy"] = score(data.test_labels, test_pred)
        ctx.remember(**out)

        for n in SPEED_LENGTHS:
            out.update(throughput(clf, vocab, data.test_texts, n, s.speed_batch, s.speed_reps, ctx.device))
        return out

    def _finetune(self, clf: Any, ids: list[list[int]], labels: list[int], valid: tuple, s: Any, ctx: Any) -> float:
        """The shared fine-tuning loop with length-bucketed batches (less padding); returns the best
        validation accuracy and leaves ``clf`` at that checkpoint."""
        import torch
        from torch.nn import functional as F

        from harness.models.finetune import train_loop
        from harness.models.pretrain import pad_batch

        y = torch.tensor(labels, dtype=torch.long)

        def step_loss(idx: list[int]) -> Any:
            inp, att, _ = pad_batch([ids[i] for i in idx], s.max_len)
            logits = clf(inp.to(ctx.device), att.to(ctx.device), host_mask=att)  # the mask decided on the host
            return F.cross_entropy(logits, y[idx].to(ctx.device))

        best, _ = train_loop(
            clf,
            len(ids),
            s.finetune_steps,
            s.batch_size,
            s.lr,
            s.eval_every,
            step_loss,
            lambda: accuracy(clf, valid[0], valid[1], s.max_len, ctx.device),
            ctx,
            lengths=[min(len(t), s.max_len) for t in ids],
        )
        return best

    def claims(self) -> list[Any]:
        from harness.tracks.tokenization.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.tokenization.claims import throughput_figure

        return throughput_figure(table, self.name)

    def cost(self, cell: Any) -> float:
        """Seconds on one core at the quick size (~0.4 s per MLM step, ~0.06 s per fine-tuning step
        of 16 texts, ~8 s of evaluation and timing); the shared char pretraining is spread over the
        ~27 cells of a suite block and each continued run (one per arm and seed) over its 3 cells."""
        s = self.settings(cell)
        # A hub model is assumed BERT-base sized (768 wide, 12 layers) without reading its config.
        scale = (768 / 128) ** 2 * 12 / 2 if s.hub_model else (s.hidden / 128) ** 2 * s.layers / 2
        return scale * (
            0.06 * s.finetune_steps * s.batch_size / 16 + 8 + 0.4 * (s.pretrain_steps / 27 + s.continue_steps / 3)
        )
