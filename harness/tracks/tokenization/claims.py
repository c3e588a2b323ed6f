"""Claims of the tokenization track and its throughput figure."""

from __future__ import annotations

import math
from typing import Any

from harness.claims import Claim, paired_better
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
