from __future__ import annotations

import math

import pytest

from harness.stats import holm, paired_test, spearman, summarize


def test_summary_matches_t_interval():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.std == 1.0 and s.n == 3
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2}
    assert s.ci_lo == pytest.approx(2 - half) and s.ci_hi == pytest.approx(2 + half)
    assert math.isnan(summarize([5.0]).ci_lo)
    assert summarize([]).n == 0


def test_paired_test_uses_shared_seeds_only():
    a = {0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0}
    b = {0: 0.5, 1: 1.4, 2: 2.6}
    r = paired_test(a, b)
    assert r.n == 3
    assert r.delta == pytest.approx((0.5 + 0.6 + 0.4) / 3)
    from scipy.stats import ttest_rel

    assert r.p == pytest.approx(ttest_rel([1, 2, 3], [0.5, 1.4, 2.6]).pvalue)
    assert paired_test({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p == 1.0  # identical: no evidence
    assert paired_test({0: 1.0, 1: 2.0}, {0: 0.0, 1: 1.0}).p == 0.0  # constant shift


def test_holm_adjustment():
    adj = holm([0.01, 0.04, 0.03, float("nan")])
    assert adj[0] == pytest.approx(0.03)
    assert adj[2] == pytest.approx(0.06)
    assert adj[1] == pytest.approx(0.06)  # monotone: never below the previous step
    assert math.isnan(adj[3])


def test_spearman_undefined_cases():
    assert math.isnan(spearman([1, 2], [1, 2])[0])
    rho, p = spearman([1, 2, 3, 4], [4, 3, 2, 1])
    assert rho == pytest.approx(-1.0)
