"""The published leaderboards can be checked from outside: every row's paired delta and 95% CI
recompute from ``<track>.seeds.csv`` with nothing but ``csv`` and a t quantile.

Why a test over the committed files: a reader who doubts a leaderboard row should be able to redo
it from the per-seed data we publish beside it; this does exactly that, without importing the harness.
A delta taken on the test examples both arms were scored on (``delta_examples`` set in the
leaderboard) recomputes from the method's ``delta_value`` and ``delta_baseline_value`` columns.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest
from scipy import stats

LEADERBOARDS = Path(__file__).resolve().parent.parent / "leaderboards"
SEEDS = sorted([*LEADERBOARDS.glob("*.seeds.csv"), *LEADERBOARDS.glob("gpu/*.seeds.csv")])  # quick, CPU and GPU


def _paired(a: dict[str, float], b: dict[str, float]) -> tuple[float, float, float]:
    diffs = [a[s] - b[s] for s in sorted(set(a) & set(b))]
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _number(text: str) -> float:
    return float(text) if text else math.nan


@pytest.mark.parametrize("seeds_file", SEEDS, ids=[p.name.split(".")[0] for p in SEEDS])
def test_every_published_delta_recomputes_from_the_seeds_csv(seeds_file: Path) -> None:
    track = seeds_file.name.split(".")[0]
    rows = list(csv.DictReader((LEADERBOARDS / f"{track}.csv").open()))
    checked = check_deltas(seeds_file.parent, track)
    assert checked > 0 or all(r["baseline"] == "True" or not r["delta_vs_baseline"] for r in rows)


def check_deltas(folder: Path, track: str) -> int:
    """Recompute every delta of ``<folder>/<track>.csv`` from ``<track>.seeds.csv``; returns how many."""
    rows = list(csv.DictReader((folder / f"{track}.csv").open()))
    per_seed: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    for r in csv.DictReader((folder / f"{track}.seeds.csv").open()):
        if r["status"] == "ok":
            per_seed[(r["dataset"], r["method"])][r["seed"]] = r
    checked = 0
    for row in rows:
        if row["baseline"] == "True" or not row["delta_vs_baseline"]:
            continue
        base = next(b for b in rows if b["dataset"] == row["dataset"] and b["baseline"] == "True")
        metric = row["metric"]
        if row.get("delta_examples"):  # on the common examples: both values sit on the method's rows
            mine = per_seed[(row["dataset"], row["method"])]
            ours = {s: float(r["delta_value"]) for s, r in mine.items() if r.get("delta_value")}
            theirs = {s: float(r["delta_baseline_value"]) for s, r in mine.items() if r.get("delta_baseline_value")}
        else:
            ours = {s: float(r[metric]) for s, r in per_seed[(row["dataset"], row["method"])].items()}
            theirs = {s: float(r[metric]) for s, r in per_seed[(row["dataset"], base["method"])].items()}
        got = _paired(ours, theirs)
        want = tuple(_number(row[k]) for k in ("delta_vs_baseline", "delta_ci95_lo", "delta_ci95_hi"))
        for g, w in zip(got, want):
            assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-9, abs=1e-12), (
                track,
                row["dataset"],
                row["method"],
            )
        checked += 1
    return checked
