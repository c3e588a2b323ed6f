"""Exact small-sample group-sequential boundaries on the t scale, by a large fixed-seed simulation.

Why not z boundaries mapped through each look's t: at 3-12 seeds that mapping over-spends at
every look (each side lets through ~0.0265 instead of 0.025 at looks 3/6/9/12; decide-audit.md),
because the t statistics of successive looks are not the Brownian-motion z statistics the spending
recursion assumes. What is exact: under the null, the paired values of a row are i.i.d.
N(mu0, sigma^2), and the t statistics T_k = (mean_k - mu0) / (sd_k / sqrt(n_k)) at looks n_1 < ... <
n_K have a joint law that depends only on the seed counts (pivotal: neither mu0 nor sigma enters).
One table per look sequence therefore serves every row and every one-sided test whose statistic is
central t at the edge of its hypothesis: the claimed and the other side (mu = 0), "smaller than the
smallest effect" (mu = delta), non-inferiority (mu = -margin) and both TOST edges (mu = +-band).

The table: ``DESIGNS`` null paths are drawn once per (look sequence, maximum seeds, spending) from
a seed derived from that key (so it is recomputed identically when missing), and for each level a
of a fixed grid the per-look critical values c_1(a) ... c_K(a) are chosen so that, in the sample,
the share of paths first crossing at look k is exactly what Lan & DeMets spending allows between
the information fractions n_{k-1}/n_max and n_k/n_max. The first look's value is the exact Student
t quantile (nothing sequential precedes it). The grid holds every Holm level 0.025/j the verdict
rule can ask for (j = 1..HOLM_STEPS) and a log grid from 1e-5 to 0.5 for repeated p-values.

Tables ship in ``t_tables.json`` (package data) for the look sequences a default design produces
(at most 12 seeds, a look every 3) and those the error-control tests use; any other sequence (a
look at an unplanned seed count after failed cells) is computed on first use, in about the time
``python benchmarks/t_tables.py`` prints per table, and cached under the user cache directory.
``METHOD`` names the method: a design written under another method is never continued
(design.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import special

from harness.sequential.boundaries import SPENDING

METHOD = "t-sim-1"  # the boundary method and its version: a design records it (design.json)
DESIGNS = 1 << 22  # null paths per table: ~4.2 million, a spend error of ~8e-5 at 0.025
CHUNK = 1 << 18
HOLM_STEPS = 64
HOLM_BASE = 0.025  # every one-sided test runs at 0.025 / j, j = rows still open in its claim
P_FLOOR = 1e-5  # the smallest level of the grid: a repeated p-value below it prints as this bound
NEVER = math.inf  # a look that may spend nothing (or too little for the sample) is never crossed
PACKAGED = Path(__file__).with_name("t_tables.json")


def level_grid() -> tuple[float, ...]:
    """Every level a table holds, increasing: the Holm levels and a log grid for p-values."""
    holm = [HOLM_BASE / j for j in range(1, HOLM_STEPS + 1)]
    grid = np.logspace(math.log10(P_FLOOR), math.log10(0.5), 61)
    return tuple(sorted({round(float(x), 15) for x in [*holm, *grid]}))


def table_key(looks: Sequence[int], n_max: int, spending: str) -> str:
    return f"{METHOD}|{spending}|{n_max}|{','.join(str(int(n)) for n in looks)}"


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def null_paths(looks: Sequence[int], designs: int, seed: int) -> np.ndarray:
    """t statistics (designs x looks) of i.i.d. N(0, 1) paired values read at the seed counts ``looks``."""
    ns = np.asarray(looks, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(seed))
    out = np.empty((designs, len(ns)))
    for start in range(0, designs, CHUNK):
        size = min(CHUNK, designs - start)
        draws = rng.standard_normal((size, int(ns[-1])))
        sums, squares = np.cumsum(draws, axis=1)[:, ns - 1], np.cumsum(draws * draws, axis=1)[:, ns - 1]
        means = sums / ns
        var = (squares - ns * means * means) / (ns - 1)
        out[start : start + size] = means / np.sqrt(var / ns)
    return out


def spent(looks: Sequence[int], n_max: int, level: float, spending: str) -> np.ndarray:
    """What the spending function allows to spend at each look (increments, summing to alpha(t_K))."""
    spend = SPENDING[spending]
    cumulative = [spend(min(n / n_max, 1.0), level) for n in looks]
    return np.diff(np.concatenate([[0.0], cumulative])).clip(min=0.0)


def calibrate(paths: np.ndarray, looks: Sequence[int], n_max: int, level: float, spending: str) -> list[float]:
    """Critical values c_1..c_K at ``level``: look 1 the exact t quantile, look k > 1 the value that
    makes the sample's share of paths first crossing at look k equal the allowed spend."""
    designs = len(paths)
    alive = np.ones(designs, dtype=bool)
    out: list[float] = []
    for k, (n, allowed) in enumerate(zip(looks, spent(looks, n_max, level, spending))):
        if k == 0:
            c = float(-special.stdtrit(n - 1, allowed)) if allowed > 0 else NEVER
        else:
            count = int(round(allowed * designs))
            values = paths[alive, k]
            if count <= 0 or not len(values):
                c = NEVER
            elif count >= len(values):
                c = -NEVER
            else:
                top = np.partition(values, len(values) - count - 1)[len(values) - count - 1 :]
                c = float((top[0] + np.min(top[1:])) / 2)  # between the last kept and the first crossing path
        out.append(c)
        alive &= paths[:, k] < c
    return out


@dataclass(frozen=True)
class Table:
    """Critical values of one look sequence at every grid level (``bounds[i]`` belongs to ``levels[i]``)."""

    key: str
    looks: tuple[int, ...]
    levels: tuple[float, ...]
    bounds: tuple[tuple[float, ...], ...]
    designs: int
    seconds: float = 0.0

    def at(self, level: float) -> tuple[float, ...]:
        """The critical values at ``level``: a grid level exactly (every Holm level 0.025 / j up to
        j = HOLM_STEPS is one), else the largest grid level below it, which is conservative."""
        i = int(np.searchsorted(self.levels, level))
        for j in (i - 1, i):
            if 0 <= j < len(self.levels) and math.isclose(self.levels[j], level, rel_tol=1e-9):
                return self.bounds[j]
        if i == 0:
            raise KeyError(f"level {level:g} is below the boundary grid of {self.key} (smallest {self.levels[0]:g})")
        return self.bounds[i - 1]

    def crossed(self, t_path: Sequence[float], level: float) -> bool:
        """Did the t statistics of the looks so far reach their critical value at some look?"""
        bounds = self.at(level)
        return any(t >= c for t, c in zip(t_path, bounds) if t == t)

    def repeated_p(self, t_path: Sequence[float]) -> float:
        """The repeated p-value: the smallest grid level whose boundaries the path crossed at some
        look (linear in log level between grid points; P_FLOOR when even the smallest is crossed;
        1 when none up to 0.5). Under the null P(p <= a) <= a at every look and any stopping time."""
        if not any(t == t for t in t_path):
            return math.nan
        hits = [self.crossed(t_path, a) for a in self.levels]
        if hits[0]:
            return self.levels[0]
        if not any(hits):
            return 1.0
        i = hits.index(True)  # crossing is monotone in the level on the grid (tests check it)
        lo, hi = self.levels[i - 1], self.levels[i]
        below, above = self._margin(t_path, lo), self._margin(t_path, hi)
        share = below / (below - above) if below != above else 1.0
        return float(math.exp(math.log(lo) + share * (math.log(hi) - math.log(lo))))

    def _margin(self, t_path: Sequence[float], level: float) -> float:
        """How far the path stays below its boundaries at ``level`` (negative: crossed)."""
        gaps = [c - t for t, c in zip(t_path, self.at(level)) if t == t and math.isfinite(c)]
        return min(gaps) if gaps else math.inf

    def to_json(self) -> dict:
        return {
            "looks": list(self.looks),
            "levels": list(self.levels),
            "bounds": [[None if not math.isfinite(c) else c for c in row] for row in self.bounds],
            "designs": self.designs,
            "seconds": round(self.seconds, 1),
        }

    @classmethod
    def from_json(cls, key: str, data: dict) -> Table:
        bounds = tuple(tuple(NEVER if c is None else float(c) for c in row) for row in data["bounds"])
        return cls(key, tuple(data["looks"]), tuple(data["levels"]), bounds, data["designs"], data.get("seconds", 0.0))


def compute(looks: Sequence[int], n_max: int, spending: str = "obf", designs: int = DESIGNS) -> Table:
    """Simulate and calibrate the table of ``looks`` (deterministic: the seed comes from the key)."""
    looks = _checked(looks, n_max)
    key = table_key(looks, n_max, spending)
    began = time.perf_counter()
    levels = level_grid()
    if len(looks) == 1:  # one look: the fixed-sample t test, no simulation needed
        bounds = tuple((float(-special.stdtrit(looks[0] - 1, spent(looks, n_max, a, spending)[0])),) for a in levels)
        return Table(key, looks, levels, bounds, 0, time.perf_counter() - began)
    paths = null_paths(looks, designs, _seed(key))
    bounds = tuple(tuple(calibrate(paths, looks, n_max, a, spending)) for a in levels)
    return Table(key, looks, levels, bounds, designs, time.perf_counter() - began)


def _checked(looks: Sequence[int], n_max: int) -> tuple[int, ...]:
    out = tuple(int(n) for n in looks)
    if not out or out[0] < 2 or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"looks must be increasing seed counts of at least 2, got {list(looks)}")
    if n_max < 2:
        raise ValueError(f"n_max must be at least 2, got {n_max}")
    return out


@lru_cache(maxsize=1)
def _packaged() -> dict:
    try:
        data = json.loads(PACKAGED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("tables", {}) if data.get("method") == METHOD else {}


@lru_cache(maxsize=256)
def table(looks: tuple[int, ...], n_max: int, spending: str = "obf") -> Table:
    """The table of a look sequence: shipped, cached, or computed now and cached."""
    from harness.artifacts import artifact_path, atomic_write_bytes

    looks = _checked(looks, n_max)
    key = table_key(looks, n_max, spending)
    shipped = _packaged().get(key)
    if shipped is not None:
        return Table.from_json(key, shipped)
    path = artifact_path("t-boundaries", hashlib.sha256(key.encode()).hexdigest()[:24], ".json")
    try:
        return Table.from_json(key, json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        pass
    made = compute(looks, n_max, spending)
    atomic_write_bytes(path, json.dumps(made.to_json()).encode())
    return made


def sequence(looks: Sequence[int], schedule: Sequence[int]) -> tuple[int, ...]:
    """The look sequence whose table serves a row: the seed counts of its looks so far, then the rest
    of its schedule (a row on schedule reads its schedule's table; boundaries at a look depend on
    the looks up to it only, so the rest changes nothing but which table is read)."""
    taken = tuple(int(n) for n in looks)
    last = taken[-1] if taken else 0
    return taken + tuple(int(n) for n in schedule if n > last)
