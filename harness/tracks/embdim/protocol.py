"""The embdim track: Su's word-vector dimension bound n > 8.33 ln N (post 7695).

Exact part (report-time claims): h_n by quadrature against Su's table, its slope -1/2 ln(phi) and
hence the constant 8.31 (Su: 8.33), and his worked examples. Empirical part (exploratory; Su ran
none): softmax skip-gram embeddings of dimension n trained on jieba-word co-occurrences of the
Chinese corpus for several vocabulary sizes N; the held-out loss -log q(context | word) is scored
against n, and the dimension where each curve flattens is compared with 8.33 ln N. A sentiment
probe (logistic regression on mean word vectors) is the downstream score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.claims import Claim
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.embdim import exact as ex
from harness.tracks.embdim.train import EmbConfig


@dataclass
class EmbdimSettings:
    steps: int = 300
    batch_size: int = 512
    lr: float = 0.05
    init_std: float = 0.1
    curve_points: int = 20
    probe: bool = True


@track("embdim", version=1)
class Embdim(Track):
    """Word-vector dimension vs vocabulary size: n > 8.33 ln N (Su 2020, minimum-entropy series 6)."""

    primary = "heldout_loss"
    # full-batch softmax, no dropout: nats per pair
    device_tolerance = (0.01, 0.0)
    recipe_type = EmbConfig
    metrics = (
        Metric("heldout_loss", False, "held-out -log q(ctx|word), nats"),
        Metric("train_loss", False, "train loss, nats"),
        Metric("gain_over_unigram", True, "held-out gain over unigram, nats"),
        Metric("probe_accuracy", True, "sentiment probe acc"),
        Metric("dim_over_bound", True, "n / (8.33 ln N)", ".2f"),
        Metric("unigram_loss", False, "unigram held-out loss", ".4f"),
        Metric("vocab_size", True, "N", ".0f"),
    )
    secondary = ("train_loss", "gain_over_unigram", "probe_accuracy", "dim_over_bound")
    Settings = EmbdimSettings
    settings_bounds = {
        "steps": (1, None),
        "batch_size": (1, None),
        "lr": (1e-6, 10.0),
        "init_std": (1e-6, 10.0),
        "curve_points": (1, None),
    }

    def cost(self, cell: Any) -> float:
        s = EmbdimSettings(**cell.settings)
        cfg: EmbConfig = self.recipe(cell)
        n = cell.dataset_params.get("vocab", 2000)
        flops = 6.0 * min(n, s.batch_size) * n * cfg.dim * s.steps
        return 2.0 + flops / 5e9

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        from harness.tracks.embdim.train import (
            SkipGram,
            cross_entropy,
            probe_accuracy,
            train_steps,
            unigram_cross_entropy,
        )

        s: EmbdimSettings = self.settings(cell)
        cfg: EmbConfig = self.recipe(cell)
        data = self.load_data(cell)
        model = SkipGram(data.size, cfg, ctx.seed("init"), s.init_std, ctx.device)
        train_loss = train_steps(model, data.train, s.steps, s.batch_size, s.lr, ctx, s.curve_points)
        held = ctx.check_finite(cross_entropy(model, data.heldout), "held-out loss")
        uni = unigram_cross_entropy(data.train, data.heldout)
        out = {
            "heldout_loss": held,
            "train_loss": cross_entropy(model, data.train),
            "last_batch_loss": train_loss,
            "unigram_loss": uni,
            "gain_over_unigram": uni - held,
            "dim_over_bound": cfg.dim / ex.min_dim(data.size),
            "vocab_size": float(data.size),
            "coverage": float(data.meta["coverage"]),
            "train_pairs": float(data.meta["train_pairs"]),
        }
        if s.probe:
            out["probe_accuracy"] = probe_accuracy(model, data, ctx.seed("sample"), ctx)
        return out

    def claims(self) -> list[Claim]:
        from harness.tracks.embdim.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.embdim.claims import knee_figure

        fig = knee_figure(table)
        caption = "Held-out skip-gram loss against n, one line per vocabulary size N; dashed: 8.33 ln N"
        return [(caption, fig)] if fig else []
