"""Claims of the tokenization track and its throughput figure."""

from __future__ import annotations

import math
from typing import Any

from harness.claims import (
    Claim,
    Published,
    SmallestEffect,
    exact_on_results,
    headline,
    min_runs,
    noninferiority,
    ratio,
    superiority,
)
from harness.tracks.tokenization.speed import SPEED_LENGTHS

SU_7758 = "Su 2020 (kexue.fm 7758)"
PUBLISHED_ACCURACY = Published(
    "IFLYTEK 60.31 -> 61.15, TNEWS 56.94 -> 57.05 (BERT -> WoBERT, accuracy %)",
    f"{SU_7758}, CLUE classification",
    comparable=("iflytek", "tnews"),
)
PUBLISHED_SPEED = {
    n: Published(v, f"{SU_7758}, relative speed of WoBERT at {n} chars")
    for n, v in ((128, "1.16x"), (256, "1.22x"), (512, "1.28x"))
}
# Arms differ only in their continued pretraining: a comparison between them has as many
# independent runs as there are continued-pretraining seeds, however many fine-tuning seeds follow.
PRETRAIN_RUNS = (min_runs(2), min_runs(2, column="m.continue_seed", what="continued-pretraining runs"))
# Declared with the claim: one point of accuracy ("equal or better").
MARGIN = 0.01
# Smallest effects of interest of the init ablation (Su gives no number).
BPC_EFFECT = SmallestEffect(
    0.02, "0.02 bits per character: a 1.4% change of the per-character likelihood (2^0.02); Su gives no number"
)
ACCURACY_EFFECT = SmallestEffect(MARGIN, "one point of accuracy, the track's margin")


def track_claims() -> list[Claim]:
    """Su's WoBERT claims (kexue.fm 7758): shorter sequences, faster, not less accurate; the init ablation.

    Token counts, speed and bits/char do not depend on the label fraction (the dataset's setting),
    so those claims have one row over all datasets instead of one per label fraction."""
    out = [
        exact_on_results(
            "WoBERT shortens sequences (char tokens / word tokens per test text)",
            _token_ratio,
            note="pilot (ours) on Su's sentiment texts with the top-20k jieba words: 1.32x",
            metric="tokens_per_text",
        ),
    ]
    for kind, verb in (("infer", "runs"), ("train", "trains")):
        for n in SPEED_LENGTHS:
            claim = ratio(
                "wobert",
                f"speedup_{kind}_{n}",
                text=f"WoBERT {verb} faster at {n} characters "
                f"({'inference' if kind == 'infer' else 'training step'}, "
                "time of the char twin / own time, interleaved in each cell)",
                published=PUBLISHED_SPEED[n],
                pool=True,
            )
            out.append(headline(claim) if (kind, n) == ("infer", max(SPEED_LENGTHS)) else claim)
    out.append(
        noninferiority(
            "wobert",
            "char-bert",
            "accuracy",
            MARGIN,
            text=f"WoBERT accuracy is equal or better than char BERT (not worse by > {MARGIN:g})",
            published=PUBLISHED_ACCURACY,
            preconditions=PRETRAIN_RUNS,
        )
    )
    out.append(
        superiority(
            "wobert",
            "wobert-random-init",
            "mlm_bpc_early",
            text="mean-of-chars init beats random init early in continued pretraining (held-out bits/char)",
            note="Su 2020: mean-of-chars init (no number)",
            preconditions=PRETRAIN_RUNS,
            pool=True,
            smallest_effect=BPC_EFFECT,
        )
    )
    out.append(
        superiority(
            "wobert",
            "wobert-random-init",
            "mlm_bpc",
            text="mean-of-chars init gives lower held-out bits/char after continued pretraining",
            preconditions=PRETRAIN_RUNS,
            pool=True,
            smallest_effect=BPC_EFFECT,
        )
    )
    out.append(
        superiority(
            "wobert",
            "wobert-random-init",
            "accuracy",
            text="mean-of-chars init gives better fine-tuned accuracy than random init",
            preconditions=PRETRAIN_RUNS,
            smallest_effect=ACCURACY_EFFECT,
        )
    )
    return out


def _token_ratio(table: Any) -> list[tuple[str, str, bool | None]]:
    """Mean tokens per test text, char vocabulary over word vocabulary: deterministic (the same
    vocabularies and test texts for every seed and label fraction), so one exact row."""
    col = "m.tokens_per_text"
    if not len(table) or col not in table:
        return [("all datasets", "no results", None)]
    ok = table[table["status"] == "ok"]
    char = ok[ok["method_name"] == "char-bert"][col].dropna()
    word = ok[ok["method_name"] == "wobert"][col].dropna()
    if not len(char) or not len(word):
        return [("all datasets", "needs char-bert and wobert results", None)]
    spread = max(char.max() - char.min(), word.max() - word.min())
    r = float(char.mean()) / float(word.mean())
    ours = f"{r:.3f}x ({char.mean():.2f} -> {word.mean():.2f} tokens per text"
    ours += (
        f", identical in all {len(char) + len(word)} cells)" if spread == 0 else f", spread {spread:.3g} over cells)"
    )
    return [("all datasets", ours, r > 1 if not math.isnan(r) else None)]


def throughput_figure(table: Any, track_name: str) -> list[tuple[str, Any]]:
    """Inference texts/s against text length, one line per method."""
    if table is None or not len(table):
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = table[(table["status"] == "ok") & (table["track"] == track_name)] if "track" in table else table
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
