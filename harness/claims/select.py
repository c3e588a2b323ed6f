"""Which result rows a claim looks at: a method selector's rows, per-seed values, the datasets.

Why here: every claim kind needs the same selection rules (a selector means its parameters
resolved against the defaults; failed cells are left out and counted; datasets are matched on the
registered dataset name, a structured column, never by parsing the display label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def ok_rows(table: Any) -> Any:
    """The rows whose cell finished ``ok``."""
    return table[table["status"] == "ok"] if len(table) else table


def rows_for(table: Any, selector: str) -> Any:
    """Rows of a method selector with its parameters resolved against the defaults.

    ``logit-adjusted`` means ``logit-adjusted`` at its default tau, never a mix of a tau sweep;
    ``pet[pattern=p2]`` means exactly that parameterisation.
    """
    from harness.registry import REGISTRY, parse_selector

    rows = table[table["method"] == selector]
    if len(rows) or not len(table):
        return rows
    name, raw = parse_selector(selector)
    rows = table[table["method_name"] == name]
    try:
        params = REGISTRY.get("method", name, str(table["track"].iloc[0])).resolve_params(raw)
    except Exception:  # an unregistered method: fall back to the name
        return rows
    for key, value in params.items():
        col = f"p.{key}"
        if col in rows and len(rows):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows = rows[rows[col].astype(float).sub(float(value)).abs() <= 1e-12 * max(1.0, abs(float(value)))]
            else:
                rows = rows[rows[col] == value]
    return rows


def ok_by_seed(rows: Any, metric: str) -> dict[int, float]:
    """``metric`` of the ``ok`` rows by seed (failed cells and NaN values left out)."""
    rows = ok_rows(rows)
    col = f"m.{metric}"
    if col not in rows:
        return {}
    return {int(s): float(v) for s, v in zip(rows["seed"], rows[col]) if not math.isnan(float(v))}


def datasets(table: Any, dataset: str | None = None) -> list[str]:
    """The dataset labels (one per dataset and protocol setting) a claim is checked on, sorted.

    ``dataset`` restricts them to one registered dataset (matched on the ``dataset_name``
    column) or to one exact label.
    """
    if not len(table):
        return []
    labels = sorted(set(table["dataset"]))
    if dataset is None:
        return labels
    by_name = set(table[table["dataset_name"] == dataset]["dataset"]) if "dataset_name" in table else set()
    return [d for d in labels if d == dataset or d in by_name]


def dataset_names(rows: Any) -> set[str]:
    """The registered dataset names behind some rows (for the published value's comparable mark)."""
    return set(rows["dataset_name"]) if "dataset_name" in rows and len(rows) else set()


@dataclass(frozen=True)
class Fixed:
    """One method selector (``logit-adjusted`` = its default parameters)."""

    selector: str

    @property
    def label(self) -> str:
        return self.selector

    def rows(self, table: Any) -> Any:
        return rows_for(table, self.selector)

    def values(self, table: Any, metric: str) -> tuple[dict[int, float], int, str]:
        """Per-seed values of ``metric``, the number of cells not ok, and a note (none here)."""
        rows = self.rows(table)
        return ok_by_seed(rows, metric), int((rows["status"] != "ok").sum()) if len(rows) else 0, ""


@dataclass(frozen=True)
class Tuned:
    """A method at the grid point chosen on validation, separately inside each seed.

    Why inside each seed: the choice is then part of what the seed-to-seed spread measures, so the
    CI and the test carry the selection noise (choosing once on the mean of the same seeds that
    are then tested would not). Test metrics play no part in the choice; a cell that did not
    finish ``ok`` is not a candidate. Ties go to the first grid point in label order.
    """

    method: str
    select: str = "valid_accuracy"
    higher_is_better: bool = True

    @property
    def label(self) -> str:
        return f"{self.method} (best {self.select} per seed)"

    def rows(self, table: Any) -> Any:
        return table[table["method_name"] == self.method] if len(table) else table

    def choices(self, table: Any) -> dict[int, Any]:
        """Seed -> the chosen cell (a row of ``table``)."""
        rows = ok_rows(self.rows(table))
        col = f"m.{self.select}"
        out: dict[int, Any] = {}
        if col not in rows or not len(rows):
            return out
        for seed, group in rows.sort_values("method").groupby("seed"):
            group = group[group[col].notna()]
            if not len(group):
                continue
            best = group[col].astype(float)
            pick = best.idxmax() if self.higher_is_better else best.idxmin()
            out[int(seed)] = group.loc[pick]
        return out

    def values(self, table: Any, metric: str) -> tuple[dict[int, float], int, str]:
        chosen = self.choices(table)
        col = f"m.{metric}"
        vals = {s: float(r[col]) for s, r in chosen.items() if col in r and not math.isnan(float(r[col]))}
        tally: dict[str, int] = {}
        for r in chosen.values():
            tally[str(r["method"])] = tally.get(str(r["method"]), 0) + 1
        note = f"{self.method} chosen per seed on {self.select}: " + ", ".join(
            f"{k} x{v}" for k, v in sorted(tally.items())
        )
        rows = self.rows(table)
        return vals, int((rows["status"] != "ok").sum()) if len(rows) else 0, note if chosen else ""


Arm = Fixed | Tuned


def arm_cells(arm: Any, table: Any) -> dict[int, Any]:
    """Seed -> the ok cell (a row of ``table``) an arm's value comes from: a tuned arm's choice on
    validation, else the arm's own ok row of that seed (any arm with ``rows``, e.g. a track's own)."""
    if isinstance(arm, Tuned):
        return arm.choices(table)
    rows = ok_rows(arm.rows(table))
    return {int(r["seed"]): r for _, r in rows.iterrows()} if len(rows) else {}


def arm(spec: str | Fixed | Tuned) -> Fixed | Tuned:
    """A method selector string means ``Fixed(selector)``."""
    return Fixed(spec) if isinstance(spec, str) else spec


def best_valid_selector(table: Any, method_name: str, dataset: str, select: str = "valid_accuracy") -> str | None:
    """The grid point of ``method_name`` with the highest mean ``select`` on ``dataset`` (for
    figures that mark one grid point; claims choose per seed with ``Tuned``). Only grid points
    whose cells all finished ``ok`` compete; test metrics play no part."""
    if not len(table) or f"m.{select}" not in table:
        return None
    t = table[(table["dataset"] == dataset) & (table["method_name"] == method_name)]
    best, best_score = None, -math.inf
    for label, rows in t.groupby("method"):
        if (rows["status"] != "ok").any():
            continue
        score = float(rows[f"m.{select}"].mean())
        if score > best_score:
            best, best_score = str(label), score
    return best
