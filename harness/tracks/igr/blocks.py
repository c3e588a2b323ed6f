"""What the igr claims need to know about one block of results: its protocol, its underfit arms, its
lr sweep, and the arms a claim compares (the sweep's smallest lr, EGR at that lr).

A block is one dataset label of the results table (dataset + settings that differ from the
defaults, e.g. ``mnist[...] · protocol=converge target_loss=0.1``). An arm is ``underfit`` when
one of its ok cells ended above the block's target train loss (``m.reached_target`` = 0): it did
not reach the point the block compares arms at, so trend claims leave it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.claims import ok_by_seed, ok_rows
from harness.tracks.igr.settings import IGRSettings

SWEEP = ("small-lr", "constant-lr")  # plain GD/SGD at a constant lr: one sweep (small-lr is its smallest lr)


def block_settings(rows: Any) -> dict[str, Any]:
    """The track settings of a block: its ``setting`` column (``k=v`` pairs that differ from the
    defaults, written by harness.engine.store.settings_label) over the track's defaults."""
    out: dict[str, Any] = dict(vars(IGRSettings()))
    text = str(rows["setting"].iloc[0]) if "setting" in rows and len(rows) else ""
    for token in text.split():
        key, _, value = token.partition("=")
        if key in out:
            out[key] = type(out[key])(float(value)) if isinstance(out[key], (int, float)) else value
    return out


def describe_protocol(s: dict[str, Any]) -> str:
    """The protocol a row was tested under, in words (claims name it on every row)."""
    opt = "GD" if s["optimizer"] == "gd" else f"SGD (batch {s['batch_size']})"
    if s["protocol"] == "time":
        how = f"equal physical time T={s['time']:g}"
    elif s["protocol"] == "epochs":
        how = f"equal epochs ({s['epochs']:g})"
    else:
        how = f"to train loss {s['target_loss']:g} (cap {s['max_steps']} steps)"
    target = f", target {s['target_loss']:g}" if s["target_loss"] > 0 and s["protocol"] != "converge" else ""
    return f"{opt}, {s['protocol']}: {how}{target}"


def underfit(t: Any) -> dict[str, str]:
    """Method label -> why it is underfit, for the arms of a block that missed its target loss."""
    out: dict[str, str] = {}
    if "m.reached_target" not in t:
        return out
    for label, rows in ok_rows(t).groupby("method"):
        reached = rows["m.reached_target"].astype(float)
        missed = int((reached < 1).sum())
        if missed:
            loss = rows["m.train_loss"].astype(float).mean() if "m.train_loss" in rows else math.nan
            out[str(label)] = f"{missed}/{len(rows)} seeds above the target (mean train loss {loss:.3g})"
    return out


def sweep_rows(t: Any) -> Any:
    return t[t["method_name"].isin(list(SWEEP))] if len(t) else t


def sweep_lrs(t: Any, converged_only: bool = False) -> list[float]:
    """The lr values of the block's plain sweep (only the arms that reached the target, if asked)."""
    s = ok_rows(sweep_rows(t))
    if converged_only:
        s = s[~s["method"].isin(list(underfit(t)))]
    return sorted(set(s["p.lr"].astype(float))) if "p.lr" in s and len(s) else []


def _at_lr(rows: Any, lr: float) -> Any:
    return rows[(rows["p.lr"].astype(float) - lr).abs() <= 1e-12 * max(1.0, lr)] if "p.lr" in rows else rows[:0]


@dataclass(frozen=True)
class SweepEnd:
    """Plain GD/SGD at the sweep's smallest lr (``which="smallest"``) or its largest lr that reached
    the target (``"largest"``). The smallest is taken whether or not it converged: a claim about it
    must then read ``untestable``, never quietly move to another lr."""

    which: str = "smallest"
    optimizer: str = "gd"

    @property
    def label(self) -> str:
        return f"plain {self.optimizer.upper()} at the {self.which} lr"

    def lr(self, t: Any) -> float | None:
        lrs = sweep_lrs(t, converged_only=self.which == "largest")
        return (lrs[0] if self.which == "smallest" else lrs[-1]) if lrs else None

    def rows(self, table: Any) -> Any:
        if not len(table) or block_settings(table)["optimizer"] != self.optimizer:
            return table[:0]
        lr = self.lr(table)
        return _at_lr(sweep_rows(table), lr) if lr is not None else table[:0]

    def values(self, table: Any, metric: str) -> tuple[dict[int, float], int, str]:
        rows = self.rows(table)
        note = f"{self.which} lr = {self.lr(table):g}" if len(rows) else ""
        return ok_by_seed(rows, metric), int((rows["status"] != "ok").sum()) if len(rows) else 0, note


@dataclass(frozen=True)
class EGRAtSmallestLR:
    """EGR at the sweep's smallest lr; with several mu there, the one nearest h_max/4 (h_max = the
    largest lr that reached the target), i.e. mu * sum ||grad L||^2 = (h_max/4) ||grad L||^2."""

    optimizer: str = "gd"

    @property
    def label(self) -> str:
        return "EGR at the smallest lr"

    def rows(self, table: Any) -> Any:
        small = SweepEnd("smallest", self.optimizer)
        lr = small.lr(table) if len(table) and block_settings(table)["optimizer"] == self.optimizer else None
        if lr is None:
            return table[:0]
        egr = _at_lr(table[table["method_name"] == "egr"], lr)
        if not len(egr) or "p.mu" not in egr:
            return egr
        h_max = SweepEnd("largest", self.optimizer).lr(table) or lr
        mus = sorted(set(egr["p.mu"].astype(float)), key=lambda m: abs(m - h_max / 4))
        return egr[egr["p.mu"].astype(float) == mus[0]]

    def values(self, table: Any, metric: str) -> tuple[dict[int, float], int, str]:
        rows = self.rows(table)
        note = f"EGR = {rows['method'].iloc[0]}" if len(rows) else ""
        return ok_by_seed(rows, metric), int((rows["status"] != "ok").sum()) if len(rows) else 0, note
