"""The same-example rule for leaderboard deltas: a method is compared with the baseline only on the
test examples both were scored on.

Why: a method scored on a subset (fewshot's ``icl`` reads the first 300 test texts, the head all
1,000) has a mean over other examples; its paired difference with the baseline would mix the
methods' difference with the subset's difficulty (published ``icl[demos=8]``: +0.0142 over mixed
sets, +0.0022 on the same 300 texts). Per seed, the two cells' example sets are compared through
their prediction files' id digests (``pred_ids``), else their example counts (``pred_n``, else a
``test_texts`` metric). When they differ, both arms' primary metric is recomputed on the common
examples from the prediction files, where the metric allows it (accuracy, balanced accuracy);
otherwise the row gets no delta and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

COUNT_COLUMNS = ("pred_n", "m.test_texts")  # where a cell's number of test examples can be read


@dataclass
class ExampleBasis:
    """How one method's delta against the baseline is measured.

    ``values`` empty and ``reason`` empty: the stored metrics, both arms on the same examples (or
    nothing says otherwise). ``values``: seed -> (method, baseline) on the examples both were scored
    on, ``examples`` of them (the smallest count over seeds). ``reason``: no delta, and why.
    """

    values: dict[int, tuple[float, float]] = field(default_factory=dict)
    examples: int | None = None
    reason: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(row: Any) -> float:
    for col in COUNT_COLUMNS:
        v = row.get(col)
        if isinstance(v, (int, float)) and not math.isnan(float(v)):
            return float(v)
    return math.nan


def same_examples(a: Any, b: Any) -> bool | None:
    """Whether two result rows were scored on the same test examples (None: nothing says)."""
    ids_a, ids_b = _text(a.get("pred_ids")), _text(b.get("pred_ids"))
    if ids_a and ids_b:
        return ids_a == ids_b
    n_a, n_b = _count(a), _count(b)
    if not (math.isnan(n_a) or math.isnan(n_b)):
        return n_a == n_b  # counts can only tell different sets apart, not prove equal ones
    return None


def _by_seed(rows: Any) -> dict[int, Any]:
    return {int(r["seed"]): r for _, r in rows.iterrows()} if len(rows) else {}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not math.isnan(float(x))


def compare_examples(method_rows: Any, base_rows: Any, metric: str) -> ExampleBasis:
    """The basis of one method's delta: ``ok`` rows of the method and of the baseline (one per seed)."""
    from harness.prediction_files import PredictionFileError
    from harness.predictions import RECOMPUTABLE, align, metric_on, row_predictions

    col = f"m.{metric}"
    ours, theirs = _by_seed(method_rows), _by_seed(base_rows)
    seeds = sorted(s for s in set(ours) & set(theirs) if _finite(ours[s].get(col)) and _finite(theirs[s].get(col)))
    differ = [s for s in seeds if same_examples(ours[s], theirs[s]) is False]
    if not differ:
        return ExampleBasis()
    s0 = differ[0]
    sizes = f"{_count(ours[s0]):.0f} vs {_count(theirs[s0]):.0f} for the baseline"
    if metric not in RECOMPUTABLE:
        return ExampleBasis(reason=f"other test examples ({sizes}); {metric} cannot be recomputed on common ones")
    values: dict[int, tuple[float, float]] = {}
    counts = []
    for s in seeds:
        a, b = ours[s], theirs[s]
        if s not in differ:
            values[s] = (float(a[col]), float(b[col]))
            continue
        try:
            pa, pb = row_predictions(a), row_predictions(b)
            ids = align({s: pa}, {s: pb}).ids  # same ids must carry the same labels
        except (PredictionFileError, ValueError) as exc:
            return ExampleBasis(reason=f"other test examples ({sizes}); {exc}")
        values[s] = (metric_on(pa, ids, metric), metric_on(pb, ids, metric))
        counts.append(len(ids))
    return ExampleBasis(values, min(counts))
