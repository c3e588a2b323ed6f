"""Group-sequential boundaries against tabulated values and an independent computation.

Why two checks: the tabulated values catch a wrong spending function or a wrong recursion, and
scipy's multivariate normal integration (Genz's algorithm, nothing shared with the grid recursion)
catches a recursion that is right only for equally spaced looks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from harness.sequential.boundaries import (
    boundaries,
    crossed,
    crossing_probabilities,
    obf_spending,
    sequential_p,
    t_to_z,
    z_to_t,
)

# Lan-DeMets O'Brien-Fleming-type spending, K = 5 equally spaced looks, one-sided 0.025 (two-sided
# 0.05): Jennison & Turnbull (2000), "Group Sequential Methods with Applications to Clinical
# Trials", ch. 7 (error spending); the same values are gsDesign's sfLDOF example (k=5, test.type=2).
TABULATED_OBF_K5 = (4.877, 3.357, 2.680, 2.290, 2.031)


def test_obf_boundaries_match_the_tabulated_values():
    got = boundaries((0.2, 0.4, 0.6, 0.8, 1.0), 0.025, "obf")
    assert got == pytest.approx(TABULATED_OBF_K5, abs=6e-4)


def test_a_single_look_is_the_fixed_sample_test():
    assert boundaries((1.0,), 0.025)[0] == pytest.approx(stats.norm.ppf(0.975), abs=1e-9)


@pytest.mark.parametrize("info", [(0.25, 0.5, 0.75, 1.0), (3 / 12, 5 / 12, 8 / 12, 1.0), (0.1, 0.3, 1.0)])
@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_crossing_probabilities_agree_with_multivariate_normal_integration(info, spending):
    """P(cross by look k) = spent alpha at t_k, computed as 1 - P(Z_1 < c_1, ..., Z_k < c_k) with
    Cov(Z_i, Z_j) = sqrt(t_i / t_j) by scipy's multivariate normal CDF."""
    level = 0.025
    bounds = boundaries(info, level, spending)
    cum = np.cumsum(crossing_probabilities(info, bounds))
    for k in range(1, len(info) + 1):
        t = np.array(info[:k])
        cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
        no_cross = stats.multivariate_normal(mean=np.zeros(k), cov=cov).cdf(np.array(bounds[:k]))
        spent = 0.025 * math.log(1 + (math.e - 1) * t[-1]) if spending == "pocock" else obf_spending(t[-1], level)
        assert 1 - no_cross == pytest.approx(spent, abs=2e-5)
        assert cum[k - 1] == pytest.approx(spent, abs=1e-6)


def test_power_under_a_drift_agrees_with_simulation():
    info = (0.25, 0.5, 0.75, 1.0)
    bounds = boundaries(info, 0.025)
    drift = 2.8  # e.g. d = 0.8 with n_max = 12 seeds: 0.8 * sqrt(12)
    power = sum(crossing_probabilities(info, bounds, drift))
    rng = np.random.default_rng(7)
    t = np.array(info)
    steps = rng.normal(
        drift * np.diff(np.concatenate([[0], t])), np.sqrt(np.diff(np.concatenate([[0], t]))), (40000, 4)
    )
    z = np.cumsum(steps, axis=1) / np.sqrt(t)
    assert power == pytest.approx(float((z >= np.array(bounds)).any(axis=1).mean()), abs=0.01)


def test_sequential_p_is_the_smallest_level_whose_boundary_was_crossed():
    info = (0.25, 0.5, 0.75)
    path = [1.0, 2.5, 2.3]
    p = sequential_p(path, info)
    assert crossed(path, info, p * 1.01) and not crossed(path, info, p * 0.99)
    assert sequential_p([-1.0, -0.5], info[:2]) > 0.5  # a path on the wrong side: no evidence
    one_look = sequential_p([2.5], (1.0,))  # a single final look: the fixed-sample p-value
    assert one_look == pytest.approx(float(special.ndtr(-2.5)), rel=2e-3)


def test_t_and_z_translation_round_trips_and_handles_infinite_t():
    assert t_to_z(2.2, 11) == pytest.approx(-stats.norm.ppf(stats.t.sf(2.2, 11)))
    assert z_to_t(t_to_z(3.1, 4), 4) == pytest.approx(3.1, rel=1e-8)
    assert t_to_z(math.inf, 3) == math.inf and t_to_z(-math.inf, 3) == -math.inf


def test_looks_must_move_forward():
    with pytest.raises(ValueError, match="must increase"):
        boundaries((0.5, 0.5), 0.025)
