"""A vectorised re-implementation of the ``--decide`` verdict rule, and simulated cells for the engine.

Why a second implementation: the error-control tests need a million designs per schedule, far more
than the production engine can run in a test's time; this module applies the rule as rule.py
documents it (Holm's step-down in the order rows stop, every test at 0.025 / rows open, labels at
that level, no "reproduced" with the printed interval below the smallest effect, verdicts frozen
at the look they stop) to whole arrays of designs at once, and the tests run the production engine
on a subsample of the same draws and require the same verdict, row for row, at the same look.
"""

from __future__ import annotations

import math
import os

import numpy as np

from harness.claims.sample import RowSample
from harness.sequential.boundaries import boundaries, z_to_t
from harness.sequential.engine import RowView, Template
from harness.sequential.t_boundaries import table

# Verdict codes: 0 open (inconclusive) and one per (verdict, decided_by) the rule can give.
LABELS = {
    1: ("reproduced", "claimed side"),
    2: ("not reproduced", "other side"),
    3: ("not reproduced", "smaller than the smallest effect"),
    4: ("not reproduced", "smaller than the smallest effect, on the claimed side"),
    5: ("reproduced", "above -margin"),
    6: ("not reproduced", "below -margin"),
    7: ("reproduced", "inside the band"),
    8: ("not reproduced", "outside the band"),
}
CODE = {v: k for k, v in LABELS.items()}
OLD = os.environ.get("KEXUE_BENCH_OLD_BOUNDARIES") == "1"  # run the rate tests against the old boundaries


def critical(looks: tuple[int, ...], n_max: int, level: float) -> np.ndarray:
    """Per-look t critical values: the production tables, or with KEXUE_BENCH_OLD_BOUNDARIES=1 the
    boundaries the harness used before (z boundaries mapped through each look's t quantile)."""
    if OLD:
        info = tuple(round(min(n / n_max, 1.0), 12) for n in looks)
        return np.array([z_to_t(c, n - 1) for c, n in zip(boundaries(info, level), looks)])
    return np.array(table(looks, n_max).at(level))


def moments(noise: np.ndarray, looks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Running sums and sums of squares of ``noise`` (designs x seeds) at the seed counts ``looks``."""
    ns = np.asarray(looks)
    return np.cumsum(noise, axis=-1)[..., ns - 1], np.cumsum(noise * noise, axis=-1)[..., ns - 1]


def t_stats(x, looks: tuple[int, ...], kind: str, delta=math.nan, margin=math.nan, band=math.nan, shift=0.0):
    """Each one-sided test's t statistics at each look: {name: (designs, looks)} for values ``x``
    (designs x seeds, seeds in order) or their ``moments``, plus ``shift`` (a true mean added to
    every value, so one draw of noise serves several means)."""
    ns = np.asarray(looks)
    sums, squares = moments(x, looks) if isinstance(x, np.ndarray) else x
    sums, squares = sums + shift * ns, squares + 2 * shift * sums + ns * shift * shift
    mean = sums / ns
    se = np.sqrt((squares - ns * mean * mean) / (ns - 1) / ns)
    if kind == "superiority":
        out = {"up": mean / se, "down": -mean / se}
        if not math.isnan(delta):
            out["small"] = (delta - mean) / se
        return out
    if kind == "non-inferiority":
        return {"above": (mean + margin) / se, "below": -(mean + margin) / se}
    return {
        "lo": (mean + band) / se,
        "hi": (band - mean) / se,
        "out_hi": (mean - band) / se,
        "out_lo": (-band - mean) / se,
    }


def _labels(kind: str, hit: dict, below_now: np.ndarray) -> np.ndarray:
    """Codes of the rule's labels given which tests crossed (at the step's level) so far."""
    zero = np.zeros_like(below_now, dtype=np.int8)
    if kind == "superiority":
        up, down, small = hit["up"], hit["down"], hit.get("small", np.zeros_like(hit["up"]))
        smaller = np.where(up, CODE[LABELS[4]], CODE[LABELS[3]])
        return np.where(down, 2, np.where(small, smaller, np.where(up & ~below_now, 1, zero))).astype(np.int8)
    if kind == "non-inferiority":
        return np.where(hit["below"], 6, np.where(hit["above"], 5, zero)).astype(np.int8)
    outside = hit["out_hi"] | hit["out_lo"]
    return np.where(outside, 8, np.where(hit["lo"] & hit["hi"], 7, zero)).astype(np.int8)


def verdicts(stats: list[dict], looks: tuple[int, ...], n_max: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes (designs, rows) and the look index each row stopped at (-1: open) of claims whose rows
    (``stats[r]``, all with the same looks) run the rule together."""
    rows, designs, k_looks = len(stats), next(iter(stats[0].values())).shape[0], len(looks)
    crit = np.stack([critical(looks, n_max, 0.025 / j) for j in range(1, rows + 1)])  # (rows, looks)
    crossed = [{name: np.zeros((rows, designs), bool) for name in s} for s in stats]  # by row: level j x design
    code = np.zeros((designs, rows), np.int8)
    stop = np.full((designs, rows), -1)
    idx = np.arange(designs)
    for k in range(k_looks):
        for r, s in enumerate(stats):
            for name, t in s.items():
                crossed[r][name] |= t[None, :, k] >= crit[:, k, None]
        below = [s["small"][:, k] >= crit[0, k] if "small" in s else np.zeros(designs, bool) for s in stats]
        while True:
            open_ = code == 0
            j = open_.sum(axis=1)
            any_hit = np.zeros(designs, bool)
            new = np.zeros_like(code)
            for r in range(rows):
                level = np.clip(j - 1, 0, rows - 1)
                hit = {name: c[level, idx] for name, c in crossed[r].items()}
                new[:, r] = np.where(open_[:, r] & (j > 0), _labels(kind, hit, below[r]), 0)
                any_hit |= new[:, r] > 0
            if not any_hit.any():
                break
            stop = np.where(new > 0, k, stop)
            code = np.where(new > 0, new, code)
    return code, stop


def draws(rng: np.random.Generator, designs: int, rows: int, n_max: int, mean: float, sd: float = 1.0) -> np.ndarray:
    return rng.normal(mean, sd, (designs, rows, n_max))


def rate(codes: np.ndarray, wanted: set[int]) -> tuple[float, float]:
    """Share of designs with a verdict among ``wanted`` and its standard error."""
    p = float(np.isin(codes, list(wanted)).mean())
    return p, math.sqrt(max(p * (1 - p), 1e-12) / codes.size)


class SimulatedCells:
    """A source and a runner at once for the production engine: every row's per-seed values are
    drawn in advance; "running a seed" of a template reveals the next value of every row using it.
    ``uses[i]``: the templates of row i (rows sharing a template share its seeds)."""

    def __init__(self, values: np.ndarray, n0: int, kind: str, uses: list[list[str]] | None = None, **thresholds):
        self.values, self.kind, self.thresholds = values, kind, thresholds
        self.uses = uses or [[f"t{i}"] for i in range(len(values))]
        self.seeds = {t: n0 for ts in self.uses for t in ts}
        self.cost = 0.0

    def n(self, i: int) -> int:
        return min(self.seeds[t] for t in self.uses[i])

    def rows(self) -> list[RowView]:
        return [
            RowView(
                f"r{i}",
                "claim",
                RowSample(dict(enumerate(v[: self.n(i)])), self.kind, **self.thresholds),
                {t: Template(1.0, self.seeds[t]) for t in self.uses[i]},
            )
            for i, v in enumerate(self.values)
        ]

    def run(self, targets: dict[str, int], rows: dict[str, RowView]) -> float:
        spent = 0.0
        for rid, n in targets.items():
            for t in self.uses[int(rid[1:])]:
                spent += max(0, n - self.seeds[t])
                self.seeds[t] = max(self.seeds[t], n)
        self.cost += spent
        return spent
