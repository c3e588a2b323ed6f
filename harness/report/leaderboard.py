"""Leaderboard rows for one track: per dataset and method, the primary metric over seeds, its rank,
the paired delta against the baseline with a 95% CI, and Holm-corrected significance.

A delta compares the two arms on the same test examples only (``harness.report.same_examples``):
a method scored on other examples than the baseline is compared on the common ones, recomputed
from the prediction files, or gets no delta and the reason.

Missing, failed, diverged and stale cells are counted and shown, never silently averaged in.
A cell is stale when the method, dataset or track it was computed with has a newer ``version``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness.registry import REGISTRY
from harness.report.same_examples import compare_examples
from harness.stats import holm, paired_test, summarize


@dataclass
class Row:
    dataset: str
    method: str
    is_baseline: bool
    n_ok: int
    n_total: int
    statuses: dict[str, int]
    n_stale: int
    mean: float
    std: float
    ci_lo: float
    ci_hi: float
    rank: int | None = None
    delta: float = math.nan
    delta_lo: float = math.nan
    delta_hi: float = math.nan
    p: float = math.nan
    p_holm: float = math.nan
    significant: bool = False
    secondary: dict[str, float] = field(default_factory=dict)
    # the same-example rule (harness.report.same_examples): a delta over the examples both arms
    # were scored on says how many (``delta_examples``) and keeps its per-seed (method, baseline)
    # values; a row without a delta says why in ``delta_note``
    delta_examples: int | None = None
    delta_note: str = ""
    delta_values: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def status_note(self) -> str:
        parts = [f"{self.n_ok}/{self.n_total} ok"]
        parts += [f"{n} {s}" for s, n in sorted(self.statuses.items()) if s != "ok"]
        if self.n_stale:
            parts.append(f"{self.n_stale} stale")
        return ", ".join(parts)


def mark_stale(table: Any) -> Any:
    """Add a boolean ``stale`` column: the result predates the current version of its entries."""
    table = table.copy()
    stale = []
    for _, r in table.iterrows():
        try:
            cur = {
                "track": REGISTRY.get("track", r["track"]).version,
                "method": REGISTRY.get("method", r["method_name"], r["track"]).version,
                "dataset": REGISTRY.get("dataset", r["dataset_name"]).version,
            }
        except Exception:
            stale.append(True)  # the entry no longer exists
            continue
        stale.append(any(f"v.{k}" in r and r[f"v.{k}"] == r[f"v.{k}"] and int(r[f"v.{k}"]) < v for k, v in cur.items()))
    table["stale"] = stale
    return table


def baseline_label(table: Any, track: str) -> str | None:
    """The label of the baseline's rows (its default parameterisation when several exist)."""
    from harness.claims import rows_for

    base = REGISTRY.baseline(track).name
    labels = rows_for(table, base)["method"]  # the baseline at its default parameters
    if not len(labels):
        labels = table[table["method_name"] == base]["method"]
    return labels.value_counts().index[0] if len(labels) else None


def track_rows(table: Any, track_cls: Any) -> list[Row]:
    """One Row per (dataset, method) of a track's collected results."""
    if not len(table):
        return []
    table = mark_stale(table)
    primary = track_cls.primary
    higher = track_cls.metric(primary).higher_is_better
    col = f"m.{primary}"
    rows: list[Row] = []
    for ds in sorted(set(table["dataset"])):
        t = table[table["dataset"] == ds]
        # Per dataset label: a block may run the baseline at its own parameters (igr's small-lr at
        # the block's smallest stable lr), and its rows are compared with that block's baseline.
        base_label = baseline_label(t, track_cls.name)
        fresh = t[~t["stale"]]
        ok = fresh[fresh["status"] == "ok"]
        per_method: dict[str, dict[int, float]] = {}
        for m in sorted(set(t["method"])):
            rm = ok[ok["method"] == m]
            per_method[m] = {int(s): float(v) for s, v in zip(rm["seed"], rm[col]) if v == v} if col in rm else {}
        ds_rows = []
        for m in sorted(set(t["method"])):
            all_m = t[t["method"] == m]
            statuses = all_m[~all_m["stale"]]["status"].value_counts().to_dict()
            s = summarize(list(per_method[m].values()))
            row = Row(
                ds,
                m,
                m == base_label,
                s.n,
                int((~all_m["stale"]).sum()),
                statuses,
                int(all_m["stale"].sum()),
                s.mean,
                s.std,
                s.ci_lo,
                s.ci_hi,
            )
            for sec in track_cls.secondary:
                c = f"m.{sec}"
                vals = ok[ok["method"] == m][c] if c in ok else []
                row.secondary[sec] = float(vals.mean()) if len(vals) else math.nan
            if base_label is not None and m != base_label:
                ours, theirs = per_method[m], per_method.get(base_label, {})
                basis = compare_examples(ok[ok["method"] == m], ok[ok["method"] == base_label], primary)
                if basis.values:
                    ours = {s: v[0] for s, v in basis.values.items()}
                    theirs = {s: v[1] for s, v in basis.values.items()}
                    row.delta_values, row.delta_examples = basis.values, basis.examples
                    row.delta_note = f"on the {basis.examples} test examples both were scored on"
                row.delta_note = basis.reason or row.delta_note
                if not basis.reason:
                    pr = paired_test(ours, theirs)
                    row.delta, row.delta_lo, row.delta_hi, row.p = pr.delta, pr.ci_lo, pr.ci_hi, pr.p
            ds_rows.append(row)
        for row, adj in zip(ds_rows, holm([r.p for r in ds_rows])):
            row.p_holm = adj
            row.significant = adj == adj and adj < 0.05
        ranked = sorted((r for r in ds_rows if r.n_ok), key=lambda r: -r.mean if higher else r.mean)
        for i, r in enumerate(ranked, 1):
            r.rank = i
        rows += sorted(ds_rows, key=lambda r: (r.rank is None, r.rank or 0, r.method))
    return rows
