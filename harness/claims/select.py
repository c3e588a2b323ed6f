"""Which result rows a claim looks at: a method selector's rows, per-seed values, the datasets.

Why here: every claim kind needs the same selection rules (a selector means its parameters
resolved against the defaults; failed cells are left out and counted; datasets are matched on the
registered dataset name, a structured column, never by parsing the display label).
"""

from __future__ import annotations

import math
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
