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
   size; only the embedding table grows with the vocabulary. Pretraining is one deterministic run
   per arm (seed 0); the cell seed varies what follows.
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
import math
from typing import Any

from harness.errors import HarnessError
from harness.registry import track
from harness.track import Metric, Track, method_call

SPEED_LENGTHS = (128, 256, 512)
# Su 2020 (kexue.fm 7758), CLUE accuracy and relative speed at 128/256/512 characters.
PUBLISHED_ACCURACY = "IFLYTEK 60.31 -> 61.15, TNEWS 56.94 -> 57.05 (BERT -> WoBERT)"
PUBLISHED_SPEED = {128: "1.16x", 256: "1.22x", 512: "1.28x"}
PUBLISHED_TOKENS = "1.32x fewer tokens (pilot: Su's sentiment texts, top-20k jieba words)"


# version 2: speed measured against the char twin inside each cell; fine-tuning with mean pooling, batch 16.
@track("tokenization", version=2)
class Tokenization(Track):
    """WoBERT vs char BERT: sequence length, speed, accuracy, and the mean-of-chars init."""

    primary = "accuracy"
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
    def continue_config(s: Any, recipe: dict[str, Any]) -> Any:
        from harness.models.pretrain import ContinueConfig

        if s.early_steps > s.continue_steps:
            raise HarnessError(f"tokenization: early_steps={s.early_steps} exceeds continue_steps={s.continue_steps}")
        return ContinueConfig(
            steps=s.continue_steps,
            lr=s.continue_lr,
            warmup=max(1, s.continue_steps // 10),
            early_steps=s.early_steps,
            **recipe,
        )

    # --- one cell --------------------------------------------------------------------------------
    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import random

        from harness.data.chinese import sample_labelled
        from harness.models.pretrain import continued_mlm, mlm_bits_per_char
        from harness.models.tinybert import BertClassifier, count_parameters

        s = self.settings(cell)
        data = self.load_data(cell)
        if not data.train_texts or not data.test_texts or not data.valid_texts:
            raise HarnessError(f"tokenization needs non-empty train/valid/test splits ({cell.dataset_selector})")
        recipe = method_call(self.name, cell.method, dict(cell.method_params))
        cfg = self.pretrain_config(s)
        art = continued_mlm(cfg, self.continue_config(s, recipe))
        s = dataclasses.replace(s, max_len=min(s.max_len, cfg.model.max_positions))  # a hub model may be shorter
        vocab = art.vocab
        out: dict[str, float] = {"vocab_size": float(len(vocab))}

        # Held-out MLM bits per character (before fine-tuning touches the encoder).
        rng = random.Random(ctx.seed("sample"))
        held = rng.sample(data.test_texts, min(s.heldout_texts, len(data.test_texts)))
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
        out["accuracy"] = accuracy(clf, test_ids, data.test_labels, s.max_len, ctx.device)
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
            return F.cross_entropy(clf(inp.to(ctx.device), att.to(ctx.device)), y[idx].to(ctx.device))

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

    def cost(self, cell: Any) -> float:
        """Seconds on one core at the quick size (~0.4 s per MLM step, ~0.06 s per fine-tuning step
        of 16 texts, ~8 s of evaluation and timing); the shared char pretraining is spread over the
        ~27 cells of a suite block and each continued arm over its ~9 cells."""
        s = self.settings(cell)
        # A hub model is assumed BERT-base sized (768 wide, 12 layers) without reading its config.
        scale = (768 / 128) ** 2 * 12 / 2 if s.hub_model else (s.hidden / 128) ** 2 * s.layers / 2
        return scale * (
            0.06 * s.finetune_steps * s.batch_size / 16 + 8 + 0.4 * (s.pretrain_steps / 27 + s.continue_steps / 9)
        )

    # --- claims and figures ----------------------------------------------------------------------
    def claims(self) -> list[Any]:
        from harness.claims import paired_better

        out = [
            ratio_claim(
                "wobert",
                "char-bert",
                "tokens_per_text",
                lower_is_better=True,
                text="WoBERT shortens sequences (char tokens / word tokens per text)",
                published=PUBLISHED_TOKENS,
            ),
        ]
        for kind, verb in (("infer", "runs"), ("train", "trains")):
            for n in SPEED_LENGTHS:
                out.append(
                    speedup_claim(
                        "wobert",
                        f"speedup_{kind}_{n}",
                        text=f"WoBERT {verb} faster at {n} characters "
                        f"({'inference' if kind == 'infer' else 'training step'}, "
                        "time of the char twin / own time, interleaved in each cell)",
                        published=PUBLISHED_SPEED[n],
                    )
                )
        out.append(
            noninferior(
                "wobert",
                "char-bert",
                "accuracy",
                margin=0.01,
                text="WoBERT accuracy is equal or better than char BERT (not worse by > 1 point)",
                published=PUBLISHED_ACCURACY,
            )
        )
        out.append(
            paired_better(
                "wobert",
                "wobert-random-init",
                "mlm_bpc_early",
                text="mean-of-chars init beats random init early in continued pretraining (held-out bits/char; "
                "one pretraining run per arm, seeds resample held-out texts and masks)",
                published="Su 2020: mean-of-chars init (no number)",
            )
        )
        out.append(
            paired_better(
                "wobert",
                "wobert-random-init",
                "mlm_bpc",
                text="mean-of-chars init gives lower held-out bits/char after continued pretraining",
            )
        )
        out.append(
            paired_better(
                "wobert",
                "wobert-random-init",
                "accuracy",
                text="mean-of-chars init gives better fine-tuned accuracy than random init",
            )
        )
        return out

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        if table is None or not len(table):
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ok = table[(table["status"] == "ok") & (table["track"] == self.name)] if "track" in table else table
        cols = [f"m.infer_tps_{n}" for n in SPEED_LENGTHS]
        if not len(ok) or not all(c in ok for c in cols):
            return []
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name, rows in ok.groupby("method"):
            ax.plot(SPEED_LENGTHS, [rows[c].mean() for c in cols], marker="o", label=name)
        ax.set_xlabel("text length (characters)")
        ax.set_ylabel("inference texts / s")
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return [("Inference throughput by text length (mean over cells)", fig)]


# --- measurement helpers ---------------------------------------------------------------------------
_ENCODED: dict[tuple[Any, tuple[str, ...]], list[list[int]]] = {}


def encode_ids(vocab: Any, texts: list[str]) -> list[list[int]]:
    """``zh_tokenizers.encode_ids`` remembered per process: a worker runs many cells on the same
    splits and vocabularies, and jieba-cutting the 12k training reviews again for each costs ~1 s."""
    from harness.models.zh_tokenizers import encode_ids as encode

    key = (vocab, tuple(texts))
    if key not in _ENCODED:
        if len(_ENCODED) >= 16:
            _ENCODED.pop(next(iter(_ENCODED)))
        _ENCODED[key] = encode(vocab, texts)
    return [list(ids) for ids in _ENCODED[key]]


def accuracy(clf: Any, ids: list[list[int]], labels: list[int], max_len: int, device: str, batch: int = 128) -> float:
    """Accuracy of ``clf`` on pre-encoded texts (truncated to ``max_len`` tokens; empty -> [CLS][SEP])."""
    import torch

    from harness.models.pretrain import pad_batch

    if not ids:
        return float("nan")
    clf.eval()
    correct = 0
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # less padding
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            inp, att, _ = pad_batch([ids[j] for j in idx], max_len)
            pred = clf(inp.to(device), att.to(device)).argmax(1).cpu()
            correct += int((pred == torch.tensor([labels[j] for j in idx])).sum())
    return correct / len(ids)


def char_twin(vocab: Any) -> Any:
    """The char vocabulary a word vocabulary was built on (its first ``n_chars`` tokens, same ids)."""
    from harness.models.zh_tokenizers import Vocab

    if not vocab.word_level:
        return vocab
    return Vocab(tokens=vocab.tokens[: vocab.n_chars], n_chars=vocab.n_chars, word_level=False)


def throughput(
    clf: Any, vocab: Any, texts: list[str], n_chars: int, batch: int, reps: int, device: str
) -> dict[str, float]:
    """Training and inference speed on ``batch`` texts of exactly ``n_chars`` characters, for the
    cell's model and, interleaved with it, for its char twin.

    The twin is the same encoder with the char vocabulary's embedding table, fed the char tokens
    of the same texts: the only differences are the sequence length and the table size, which is
    exactly what a word vocabulary changes. Timing the two alternately (order flipped each
    repetition, median of ``reps`` after one warm-up) puts both under the same machine load, so
    ``speedup_*`` (twin time / own time) is far less noisy than a ratio of texts/s measured in
    different cells at different moments. For ``char-bert`` the twin is an identical copy, so its
    speedup (~1.00) shows the timing noise floor.

    Copies are timed, so the measured classifier is never changed. Sequences are not truncated,
    except at the model's maximum positions (512 tokens for a hub BERT: the char twin of a
    512-character text loses its last two characters there).
    """
    import copy
    import time
    from statistics import median

    import torch
    from torch.nn import functional as F

    from harness.data.chinese import fixed_length_texts
    from harness.models.pretrain import pad_batch

    raw = fixed_length_texts(texts, n_chars, batch)
    twin_vocab = char_twin(vocab)
    arms = []
    max_tokens = min(n_chars + 2, clf.encoder.config.max_position_embeddings)  # a hub BERT stops at 512
    for v in (vocab, twin_vocab):
        seqs = encode_ids(v, raw)
        inp, att, _ = pad_batch(seqs, max_tokens)
        model = copy.deepcopy(clf)
        if len(v) != clf.encoder.config.vocab_size:
            model.encoder.resize_token_embeddings(len(v))
        model = model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-6, foreach=True)
        arms.append(
            (model, opt, inp.to(device), att.to(device), torch.zeros(len(seqs), dtype=torch.long, device=device))
        )

    def sync() -> None:
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()

    def train_step(model: Any, opt: Any, inp: Any, att: Any, target: Any) -> None:
        model.train()
        loss = F.cross_entropy(model(inp, att), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step(model: Any, opt: Any, inp: Any, att: Any, target: Any) -> None:
        model.eval()
        with torch.no_grad():
            model(inp, att)

    out: dict[str, float] = {}
    for kind, fn in (("train", train_step), ("infer", infer_step)):
        times: list[list[float]] = [[], []]
        for r in range(reps + 1):
            for a in (0, 1) if r % 2 else (1, 0):
                sync()
                t0 = time.perf_counter()
                fn(*arms[a])
                sync()
                if r:
                    times[a].append(time.perf_counter() - t0)
        own, twin = median(times[0]), median(times[1])
        out[f"{kind}_tps_{n_chars}"] = batch / own
        out[f"speedup_{kind}_{n_chars}"] = twin / own
    return out


# --- claim checks ----------------------------------------------------------------------------------
def _values(table: Any, method: str, metric: str, dataset: str) -> tuple[dict[int, float], int]:
    """``metric`` by seed for ``method`` on ``dataset`` (ok cells), and how many cells were not ok."""
    from harness.claims import ok_by_seed, rows_for

    rows = rows_for(table[table["dataset"] == dataset], method)
    return ok_by_seed(rows, metric), int((rows["status"] != "ok").sum())


def _pairs(table: Any, a: str, b: str, metric: str, dataset: str) -> tuple[dict[int, float], dict[int, float], int]:
    """``_values`` of methods ``a`` and ``b``, with their not-ok cells counted together."""
    (va, fa), (vb, fb) = _values(table, a, metric, dataset), _values(table, b, metric, dataset)
    return va, vb, fa + fb


def _ratio_verdict(text: str, published: str | None, ds: str, logs: dict[int, float], failed: int) -> Any:
    """One claim row from per-seed log ratios: the geometric mean with a 95% CI, and a t-test of
    the logs against 0 (reproduced when the ratio is significantly above 1)."""
    from harness.claims import NA, ClaimResult, direction_verdict
    from harness.stats import paired_test

    if not logs:
        return ClaimResult(text, published or "", "no paired results", NA, ds)
    pr = paired_test(logs, {s: 0.0 for s in logs})
    ours = f"{math.exp(pr.delta):.3f}x"  # geometric mean of the per-seed ratios
    if pr.n > 1:
        ours += f" [{math.exp(pr.ci_lo):.3f}, {math.exp(pr.ci_hi):.3f}] (p={pr.p:.3g}, n={pr.n})"
    if failed:
        ours += f"; {failed} cell(s) not ok excluded"
    return ClaimResult(text, published or "", ours, direction_verdict(pr.delta > 0, pr.p), ds)


def _per_dataset(text: str, published: str | None, row: Any) -> Any:
    """A claim checked separately on each dataset of the table: ``row(table, dataset)`` gives the
    ClaimResult of one dataset; an empty table gives one "no results" row."""
    from harness.claims import NA, Claim, ClaimResult

    def check(table: Any, track_obj: Any) -> list[ClaimResult]:
        if not len(table):
            return [ClaimResult(text, published or "", "no results", NA)]
        return [row(table, ds) for ds in sorted(set(table["dataset"]))]

    return Claim(text, check, published)


def ratio_claim(
    a: str, b: str, metric: str, text: str, published: str | None = None, lower_is_better: bool = False
) -> Any:
    """``a`` improves ``metric`` over ``b``; ours = the geometric mean of the per-seed ratios (b/a
    when lower is better, else a/b) with a 95% CI; verdict from a t-test of the log ratios."""

    def row(table: Any, ds: str) -> Any:
        va, vb, failed = _pairs(table, a, b, metric, ds)
        num, den = (vb, va) if lower_is_better else (va, vb)
        logs = {s: math.log(num[s] / den[s]) for s in sorted(set(va) & set(vb)) if va[s] > 0 and vb[s] > 0}
        return _ratio_verdict(text, published, ds, logs, failed)

    return _per_dataset(text, published, row)


def speedup_claim(a: str, metric: str, text: str, published: str | None = None) -> Any:
    """``metric`` of method ``a`` is a ratio measured inside each cell (e.g. the char twin's time
    over the cell's own); the claim is that it exceeds 1, tested over seeds like ``ratio_claim``."""

    def row(table: Any, ds: str) -> Any:
        va, failed = _values(table, a, metric, ds)
        return _ratio_verdict(text, published, ds, {s: math.log(v) for s, v in va.items() if v > 0}, failed)

    return _per_dataset(text, published, row)


def noninferior(a: str, b: str, metric: str, margin: float, text: str, published: str | None = None) -> Any:
    """``a`` is not worse than ``b`` by more than ``margin`` (higher is better): reproduced when the
    95% CI of the paired difference lies above -margin, not reproduced when it lies below."""
    from harness.claims import INCONCLUSIVE, NA, NOT_REPRODUCED, REPRODUCED, ClaimResult
    from harness.stats import paired_test

    def row(table: Any, ds: str) -> Any:
        va, vb, failed = _pairs(table, a, b, metric, ds)
        pr = paired_test(va, vb)
        if pr.n < 2:
            return ClaimResult(text, published or "", f"too few paired results (n={pr.n})", NA, ds)
        ours = (
            f"{sum(vb.values()) / len(vb):.4f} -> {sum(va.values()) / len(va):.4f} "
            f"(delta {pr.delta:+.4f} [{pr.ci_lo:+.4f}, {pr.ci_hi:+.4f}], n={pr.n})"
        )
        if failed:
            ours += f"; {failed} cell(s) not ok excluded"
        if pr.ci_lo > -margin:
            verdict = REPRODUCED
        elif pr.ci_hi < -margin:
            verdict = NOT_REPRODUCED
        else:
            verdict = INCONCLUSIVE
        return ClaimResult(text, published or "", ours, verdict, ds)

    return _per_dataset(text, published, row)
