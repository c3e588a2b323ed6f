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


# --- exact t-scale boundaries (t_boundaries.py): what the verdicts read -------------------------


def test_a_single_look_on_the_t_scale_is_the_fixed_sample_t_test_at_every_level():
    from harness.sequential.t_boundaries import table

    tab = table((12,), 12)
    for level in tab.levels:
        assert tab.at(level)[0] == pytest.approx(stats.t.isf(level, 11), rel=1e-12)


def test_the_first_look_is_the_exact_t_quantile_of_what_it_may_spend():
    from harness.sequential.t_boundaries import table

    tab = table((3, 6, 9, 12), 12)
    assert tab.at(0.025)[0] == pytest.approx(stats.t.isf(obf_spending(0.25, 0.025), 2), rel=1e-12)
    assert tab.at(0.025)[0] == pytest.approx(260.52, abs=0.01)  # the audit's equivalent t boundary at n = 3


@pytest.mark.parametrize("looks", [(3, 6, 9, 12), (5, 8, 12), (4, 8, 12), (2, 5, 8, 12)])
def test_boundaries_fall_as_the_level_rises_at_every_look(looks):
    """Crossing is monotone in the level, which Holm's step-down and the repeated p-value need."""
    from harness.sequential.t_boundaries import table

    bounds = np.array(table(looks, 12).bounds)
    finite = np.where(np.isfinite(bounds), bounds, 1e9)
    assert (np.diff(finite, axis=0) <= 0).all()


def test_the_t_boundaries_exceed_the_mapped_z_boundaries_that_over_spent():
    """At looks 3/6/9/12 the mapped z boundaries on the t scale were 260.5 / 5.358 / 2.954 / 2.274
    (decide-audit.md). The first look is the same exact quantile; the second nearly so (almost
    nothing crosses at the first, so its spend is a marginal t tail: equal within simulation error);
    the third and last, where the t statistics' dependence matters, are stricter."""
    from harness.sequential.t_boundaries import table

    exact = table((3, 6, 9, 12), 12).at(0.025)
    mapped = [z_to_t(c, n - 1) for c, n in zip(boundaries((0.25, 0.5, 0.75, 1.0), 0.025), (3, 6, 9, 12))]
    assert exact[0] == pytest.approx(mapped[0], rel=1e-9)
    assert exact[1] == pytest.approx(mapped[1], rel=0.01)
    assert exact[2] > mapped[2] + 0.02 and exact[3] > mapped[3] + 0.02


def test_the_shipped_table_is_what_the_code_computes_and_recomputes_deterministically():
    """The shipped 3/6/9/12 table against a fresh computation from the same seed on its first 2^18
    paths (the same stream): equal up to the sampling error of the smaller sample; and a computation
    repeated gives the same table bit for bit."""
    from harness.sequential.t_boundaries import compute, table

    small = compute((3, 6, 9, 12), 12, designs=1 << 18)
    assert compute((3, 6, 9, 12), 12, designs=1 << 18).bounds == small.bounds
    shipped = table((3, 6, 9, 12), 12)
    assert np.allclose(small.at(0.025), shipped.at(0.025), rtol=0.02)
    assert np.allclose(small.at(0.005), shipped.at(0.005), rtol=0.04)


def test_with_many_seeds_the_t_boundaries_approach_the_z_recursion():
    """At 40/80/120/160 seeds t is nearly normal: the simulated t boundaries must meet the z
    boundaries of the numerical recursion (two independent methods) within simulation error."""
    from harness.sequential.t_boundaries import calibrate, null_paths

    looks = (40, 80, 120, 160)
    paths = null_paths(looks, 1 << 17, seed=5)
    got = calibrate(paths, looks, 160, 0.025, "obf")
    want = [z_to_t(c, n - 1) for c, n in zip(boundaries((0.25, 0.5, 0.75, 1.0), 0.025), looks)]
    assert got[0] == pytest.approx(want[0], rel=0.01)  # exact on both sides but for t vs z
    assert np.allclose(got[1:], want[1:], rtol=0.03)


def test_the_repeated_p_value_agrees_with_the_boundary_crossings():
    """p <= L exactly when the path crossed the boundaries of level L, at every Holm level."""
    from harness.sequential.t_boundaries import HOLM_BASE, table

    tab = table((3, 6, 9, 12), 12)
    rng = np.random.default_rng(1)
    for _ in range(40):
        path = list(rng.normal(1.5, 1.2, 4))
        p = tab.repeated_p(path)
        for j in range(1, 9):
            assert (p <= HOLM_BASE / j) == tab.crossed(path, HOLM_BASE / j), (path, p, j)
    assert tab.repeated_p([-1.0, -2.0]) == 1.0


def test_a_level_off_the_grid_reads_the_next_smaller_grid_level_which_is_conservative():
    from harness.sequential.t_boundaries import HOLM_STEPS, table

    tab = table((3, 6, 9, 12), 12)
    off = 0.025 / (HOLM_STEPS + 1)  # a claim with more rows than the grid's Holm levels
    below = max(a for a in tab.levels if a < off)
    assert tab.at(off) == tab.at(below) and all(x >= y for x, y in zip(tab.at(off), tab.at(0.025 / HOLM_STEPS)))
    with pytest.raises(KeyError, match="below the boundary grid"):
        tab.at(1e-9)
