"""Claims of the dialogue track and its per-metric figure."""

from __future__ import annotations

from typing import Any

from harness.claims import Claim, Published, SmallestEffect, headline, min_runs, noninferiority, requires, superiority

SU_QUALITATIVE = (
    "Su 7718: whole-dialogue training is more efficient; 'no significant difference' in quality (no number)"
)
# Declared with the claim, from the metric's scale: distinct-2 is a proportion in [0, 1]; a drop of more than
# one point (0.01) of distinct bigrams is the smallest loss of diversity a reader would count.
DIVERSITY_MARGIN = 0.01
# Smallest effects of interest (Su gives no number), from the claim and the design alone, relative so that one
# value serves both backbones (a tiny GPT at perplexity ~200 on 100,000 tokens, a pretrained LM at ~10-30 on
# 10,000): the change a reader choosing between the two training formats would act on.
NLL_EFFECT = SmallestEffect(
    0.025,
    "0.025 nats per target token (2.5% of perplexity; 5 points at the tiny GPT's ~200): Su reports only 'no "
    "significant difference' in quality, so the threshold is the change a reader choosing a format would act on",
)
SHARE_EFFECT = SmallestEffect(0.02, "2% of the training budget (2,000 of the tiny GPT's 100,000 tokens)")
SPEAKERS = "speaker information (segment ids on the tiny GPT, text markers 'A：'/'B：' on a pretrained LM)"


def track_claims() -> list[Claim]:
    """Su's whole-dialogue LM against CDial-GPT's format at equal compute, on every backbone block."""
    reached = requires("target_share", ">", 0, "an arm did not reach the target PPL in every seed")
    return [
        headline(
            superiority(
                "su-lm",
                "cdial",
                "response_nll",
                text="at equal compute, Su's whole-dialogue LM reaches a lower held-out response NLL (perplexity)",
                note=SU_QUALITATIVE,
                smallest_effect=NLL_EFFECT,
            )
        ),
        superiority(
            "su-lm",
            "cdial",
            "target_share",
            text="Su's format reaches the target PPL on a smaller share of the processed-token budget",
            preconditions=(min_runs(2), reached),
            smallest_effect=SHARE_EFFECT,
        ),
        superiority(
            "su-lm",
            "cdial",
            "supervised_share",
            text="Su's format supervises a larger share of its processed tokens (every turn is a target)",
            smallest_effect=SHARE_EFFECT,
        ),
        superiority(
            "su-lm",
            "su-lm-noseg",
            "response_nll",
            text=f"{SPEAKERS} helps Su's format (lower held-out response NLL than without it)",
            smallest_effect=NLL_EFFECT,
        ),
        noninferiority(
            "su-lm",
            "cdial",
            "distinct_2",
            DIVERSITY_MARGIN,
            text=f"sampled replies are at least as diverse (distinct-2) with Su's format (margin {DIVERSITY_MARGIN:g})",
            published=Published(
                "Dist-2 12.68% for CDial-GPT's format (one arm only; percent, not a fraction)",
                "CDial-GPT README, GPT_LCCC-base fine-tuned on STC",
                comparable=False,
            ),
        ),
    ]


def metric_panels(table: Any, metrics: tuple[str, ...]) -> Any | None:
    """One panel per metric: a bar per (dataset, method) with the std over seeds.

    Method names label the bars of every panel (the panels are read on their own), and the value
    axes get at most four compact ticks so large counts (tokens) never overlap."""
    if not len(table) or "m.response_ppl" not in table:
        return None
    from matplotlib.ticker import EngFormatter, MaxNLocator

    from harness.report.plots import _plt

    t = table[table["status"] == "ok"]
    groups = sorted(t.groupby(["dataset", "method"]), key=lambda kv: kv[0])
    if not groups:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 0.45 * len(groups) + 1.6), squeeze=False)
    several = len({ds for (ds, _), _ in groups}) > 1
    labels = [f"{m} ({ds})" if several else m for (ds, m), _ in groups]
    for ax, metric in zip(axes[0], metrics):
        col = f"m.{metric}"
        vals = [d[col].dropna() if col in d else d["seed"].iloc[:0] for _, d in groups]
        ax.barh(
            range(len(groups)),
            [v.mean() if len(v) else 0 for v in vals],
            xerr=[v.std() if len(v) > 1 else 0 for v in vals],
            capsize=3,
            color="#48a",
        )
        for i, v in enumerate(vals):
            if not len(v):
                ax.text(0, i, " not reached", va="center", fontsize=8, color="#b00")
        ax.set_yticks(range(len(groups)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if max((float(v.mean()) for v in vals if len(v)), default=0.0) >= 1e4:  # token counts: 20k, 40k
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(metric, fontsize=9)
    fig.tight_layout()
    return fig
