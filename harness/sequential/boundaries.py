"""Group-sequential boundaries on the z scale from an alpha-spending function, and repeated p-values.

A one-sided test is looked at after n_1 < n_2 < ... seeds. Under its null hypothesis the
standardised statistics Z_k at information fractions t_k = n_k / n_max behave like B(t_k)/sqrt(t_k)
for a Brownian motion B: independent increments, Cov(Z_i, Z_j) = sqrt(t_i / t_j). The boundary
c_k is the value for which the chance of crossing first at look k equals what the spending
function allows to spend between t_{k-1} and t_k (Lan & DeMets 1983). It depends only on the
looks so far, so looks need not be planned exactly: a look at an unplanned seed count spends
alpha(t) at its own t.

Crossing probabilities come from recursive numerical integration of the score process on a
grid (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19), Simpson's rule.

The repeated p-value of a one-sided test after k looks is the smallest level a whose boundary the
statistics crossed at some look (the p-value dual to repeated confidence intervals; Jennison &
Turnbull 2000, sec. 9.1): under the null, P(p <= a) <= a at every look and any stopping time, so
the p-values of several rows can go through Holm's procedure (Maurer & Bretz 2013). It is not the
stage-wise ordering p-value (Liu & Anderson 2008), which orders outcomes by the look they stop at.

What this module is for now: the z scale is exact for statistics with known variance, and the
large-sample limit of the t-scale boundaries that the verdicts use (t_boundaries.py, exact at 3-12
seeds, where translating these z boundaries through each look's t over-spends); the recursion
stays as the reference those tables are checked against and for the planning helpers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from scipy import optimize, special

LOWEST_Z = -10.0  # the continuation region's lower end in z units: mass below it is < 1e-23
NO_BOUNDARY = 40.0  # a look that may spend nothing has this boundary (never crossed)
TINY = 1e-15


def obf_spending(t: float, level: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: 2 - 2 Phi(z_{1-level/2} / sqrt(t)), one-sided ``level``.

    Spends almost nothing early (at t = 0.25 and level 0.025: 7.4e-6) and nearly all of ``level``
    at the end, so a design with looks loses little power against a fixed design at n_max."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    z = special.ndtri(1 - level / 2)
    return float(2 * special.ndtr(-z / math.sqrt(t)))


def pocock_spending(t: float, level: float) -> float:
    """Lan-DeMets Pocock-type spending: level * ln(1 + (e - 1) t) (spends early; kept for comparison)."""
    return 0.0 if t <= 0 else float(level * math.log(1 + (math.e - 1) * min(t, 1.0)))


SPENDING: dict[str, Callable[[float, float], float]] = {"obf": obf_spending, "pocock": pocock_spending}


def _simpson(a: float, b: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid points on [a, b] and their Simpson weights (an odd number of points, spacing <= step)."""
    n = max(3, int(math.ceil((b - a) / step)) + 1)
    n += n % 2 == 0
    x = np.linspace(a, b, n)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (x[1] - x[0]) / 3.0


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


class _ScoreProcess:
    """The sub-density of S_t = Z_t sqrt(t) on the continuation region, carried from look to look.

    ``drift``: E[S_t] = drift * t (0 under the null)."""

    def __init__(self, info: Sequence[float], drift: float = 0.0, points: int = 12):
        self.drift = drift
        self.step = math.sqrt(min([info[0]] + [b - a for a, b in zip(info, info[1:])])) / points
        self.t = 0.0
        self.grid: np.ndarray | None = None
        self.mass: np.ndarray | None = None  # density x quadrature weight at each grid point

    def crossing(self, t: float, c: float) -> float:
        """P(not crossed before, Z_t >= c)."""
        if self.grid is None:
            return float(special.ndtr(self.drift * math.sqrt(t) - c))
        inc_sd, inc_mean = math.sqrt(t - self.t), self.drift * (t - self.t)
        return float(self.mass @ special.ndtr((self.grid + inc_mean - c * math.sqrt(t)) / inc_sd))

    def advance(self, t: float, c: float) -> None:
        """Move to look ``t``, keeping only the paths below the boundary ``c``."""
        sd_t, mean_t = math.sqrt(t), self.drift * t
        grid, weights = _simpson(mean_t + LOWEST_Z * sd_t, c * sd_t, self.step)
        if self.grid is None:
            density = _normal_pdf((grid - mean_t) / sd_t) / sd_t
        else:
            inc_sd, inc_mean = math.sqrt(t - self.t), self.drift * (t - self.t)
            kernel = _normal_pdf((grid[:, None] - self.grid[None, :] - inc_mean) / inc_sd) / inc_sd
            density = kernel @ self.mass
        self.t, self.grid, self.mass = t, grid, density * weights


def _fractions(info: Sequence[float]) -> list[float]:
    ts = [min(max(float(t), TINY), 1.0) for t in info]
    if any(b <= a for a, b in zip(ts, ts[1:])):
        raise ValueError(f"information fractions must increase: {info}")
    return ts


@lru_cache(maxsize=4096)
def boundaries(info: tuple[float, ...], level: float, spending: str = "obf", points: int = 12) -> tuple[float, ...]:
    """Upper z-boundaries c_1..c_K of a one-sided test at ``level`` with looks at information ``info``.

    ``points`` sets the grid: spacing = sd of the smallest increment / ``points`` (12 gives the
    tabulated values to 4 decimals). Cached: a simulation or a report asks for the same (info,
    level) many times."""
    spend = SPENDING[spending]
    ts = _fractions(info)
    process = _ScoreProcess(ts, points=points)
    out: list[float] = []
    spent = 0.0
    for t in ts:
        allowed = max(0.0, spend(t, level) - spent)
        if allowed <= TINY or process.crossing(t, NO_BOUNDARY) >= allowed:
            c = NO_BOUNDARY
        else:
            c = float(
                optimize.brentq(lambda c, t=t, a=allowed: process.crossing(t, c) - a, -12.0, NO_BOUNDARY, xtol=1e-9)
            )
        out.append(c)
        spent += allowed
        process.advance(t, c)
    return tuple(out)


def crossing_probabilities(info: Sequence[float], bounds: Sequence[float], drift: float = 0.0) -> list[float]:
    """P(first crossing at look k) for k = 1..K with the given boundaries, under E[Z_k] = drift * sqrt(t_k).

    ``drift`` 0 is the null; a standardised effect d with n_max seeds has drift d * sqrt(n_max)."""
    ts = _fractions(info)
    process = _ScoreProcess(ts, drift)
    out = []
    for t, c in zip(ts, bounds):
        out.append(process.crossing(t, c))
        process.advance(t, c)
    return out


def t_to_z(t_stat: float, df: int) -> float:
    """The z value with the same upper-tail probability as ``t_stat`` on ``df`` degrees of freedom."""
    if math.isnan(t_stat):
        return math.nan
    if math.isinf(t_stat):
        return math.copysign(math.inf, t_stat)
    return float(-special.ndtri(special.stdtr(df, -t_stat)))


def z_to_t(z: float, df: int) -> float:
    """The t quantile with the upper-tail probability of ``z``: a z boundary on the t scale."""
    return float(-special.stdtrit(df, special.ndtr(-z)))


def info_key(info: Sequence[float]) -> tuple[float, ...]:
    """Information fractions rounded for the boundary cache (equal designs hit the same entry)."""
    return tuple(round(t, 12) for t in info)


def crossed(z_path: Sequence[float], info: Sequence[float], level: float, spending: str = "obf") -> bool:
    """Did the statistics cross the ``level`` design's boundary at some look so far?"""
    if level <= 0:
        return False
    if level >= 1:
        return any(not math.isnan(z) for z in z_path)
    bounds = boundaries(info if isinstance(info, tuple) else info_key(info), round(level, 15), spending)
    return any(z >= c for z, c in zip(z_path, bounds) if z == z)


def sequential_p(z_path: Sequence[float], info: Sequence[float], spending: str = "obf") -> float:
    """The repeated p-value of a z path: the smallest level whose boundary the path crossed at some
    look (1 when none, to 1e-12 at least). Valid at any look and stopping time (P(p <= a) <= a under
    the null); not the stage-wise ordering p-value."""
    zs = list(z_path)
    if not zs or all(math.isnan(z) for z in zs):
        return math.nan
    best = 1.0
    for k, z in enumerate(zs):
        if math.isnan(z):
            continue
        prefix = tuple(round(t, 12) for t in info[: k + 1])

        def gap(log_level: float, prefix: tuple[float, ...] = prefix, z: float = z) -> float:
            return boundaries(prefix, math.exp(log_level), spending)[-1] - z

        lo, hi = math.log(1e-12), math.log(1 - 1e-9)
        if gap(lo) <= 0:
            return 1e-12
        if gap(hi) > 0:
            continue
        best = min(best, math.exp(optimize.brentq(gap, lo, hi, xtol=1e-3)))
    return best
