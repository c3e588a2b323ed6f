"""Claims of the tokenization track and its throughput figure."""

from __future__ import annotations

from typing import Any

from harness.claims import Claim, noninferior, paired_better, ratio_claim, speedup_claim
from harness.tracks.tokenization.speed import SPEED_LENGTHS

# Su 2020 (kexue.fm 7758), CLUE accuracy and relative speed at 128/256/512 characters.
PUBLISHED_ACCURACY = "IFLYTEK 60.31 -> 61.15, TNEWS 56.94 -> 57.05 (BERT -> WoBERT)"
PUBLISHED_SPEED = {128: "1.16x", 256: "1.22x", 512: "1.28x"}
PUBLISHED_TOKENS = "1.32x fewer tokens (pilot: Su's sentiment texts, top-20k jieba words)"


def track_claims() -> list[Claim]:
    """Su's WoBERT claims (kexue.fm 7758): shorter sequences, faster, not less accurate; the init ablation."""
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
