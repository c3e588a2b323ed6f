"""The harness's statistics agree with scipy and statsmodels: Holm, Benjamini-Yekutieli, the paired
t test, TOST and McNemar.

Why: the verdicts should rest on well-kept library code, not on hand-written copies; where the
harness wraps a library (NaNs, zero spread, a Holm family read through boundary crossings), these
tests show that the wrapper returns what the library returns.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_paired

from harness.claims import RowSample
from harness.claims.core import ClaimResult
from harness.claims.row_tests import FixedTests
from harness.claims.rule import RowInput, decide, row_p
from harness.predictions import mcnemar
from harness.report.summary import assign_q
from harness.stats import by_qvalues, holm, paired_test


def test_holm_and_by_are_statsmodels_with_nans_passed_through():
    rng = np.random.default_rng(0)
    p = list(rng.uniform(0, 0.2, 12)) + [math.nan]
    got_holm, got_by = holm(p), by_qvalues(p)
    assert np.allclose(got_holm[:-1], multipletests(p[:-1], method="holm")[1])
    assert np.allclose(got_by[:-1], multipletests(p[:-1], method="fdr_by")[1])
    assert math.isnan(got_holm[-1]) and math.isnan(got_by[-1])


@pytest.mark.parametrize("seed", range(6))
def test_the_verdict_rule_on_fixed_rows_is_holms_procedure(seed):
    """Rows decided by the step-down = hypotheses statsmodels' Holm rejects at 0.05 on the rows' p-values."""
    rng = np.random.default_rng(seed)
    rows = [RowSample(dict(enumerate(rng.normal(mu, 1.0, 6))), "superiority") for mu in rng.uniform(-1.5, 1.5, 5)]
    inputs = [RowInput("superiority", FixedTests(s)) for s in rows]
    got = [d.decided for d in decide(inputs)]
    want = multipletests([row_p("superiority", i.tests) for i in inputs], alpha=0.05, method="holm")[0]
    assert got == list(want)
    assert [d.p_holm for d in decide(inputs)] == pytest.approx(
        list(multipletests([d.p for d in decide(inputs)], method="holm")[1])
    )


def test_fixed_n_tests_are_scipys_one_sample_t_test():
    values = [0.031, 0.012, 0.027, -0.004, 0.019]
    sample = RowSample(dict(enumerate(values)), "superiority", smallest_effect=0.05)
    tests = FixedTests(sample)
    assert tests.p("up") == pytest.approx(stats.ttest_1samp(values, 0.0, alternative="greater").pvalue, rel=1e-12)
    assert tests.p("down") == pytest.approx(stats.ttest_1samp(values, 0.0, alternative="less").pvalue, rel=1e-12)
    assert tests.p("small") == pytest.approx(stats.ttest_1samp(values, 0.05, alternative="less").pvalue, rel=1e-12)
    ni = FixedTests(RowSample(dict(enumerate(values)), "non-inferiority", margin=0.01))
    assert ni.p("above") == pytest.approx(stats.ttest_1samp(values, -0.01, alternative="greater").pvalue, rel=1e-12)


def test_the_leaderboards_paired_test_is_scipys_paired_t_test():
    a = {0: 0.81, 1: 0.79, 2: 0.84, 3: 0.80, 4: 0.82}
    b = {0: 0.78, 1: 0.79, 2: 0.80, 3: 0.77, 4: 0.81, 5: 0.90}  # seed 5 has no pair: left out
    got = paired_test(a, b)
    want = stats.ttest_rel([a[s] for s in range(5)], [b[s] for s in range(5)])
    assert got.n == 5 and got.p == pytest.approx(want.pvalue, rel=1e-12)


@pytest.mark.parametrize("shift", [-0.012, -0.004, 0.0, 0.006])
def test_equivalence_inside_the_band_is_statsmodels_tost(shift):
    diffs = shift + np.array([0.004, -0.003, 0.006, -0.001, 0.002, -0.005])
    tests = FixedTests(RowSample(dict(enumerate(diffs)), "equivalence", band=0.01))
    tost_p = ttost_paired(diffs, np.zeros_like(diffs), -0.01, 0.01)[0]
    assert max(tests.p("lo"), tests.p("hi")) == pytest.approx(tost_p, rel=1e-9)


@pytest.mark.parametrize(("a_only", "b_only"), [(10, 3), (210, 230), (0, 4), (5, 5)])
def test_mcnemar_is_statsmodels_exact_mcnemar(a_only, b_only):
    both, neither = 40, 25
    ca = np.array([True] * a_only + [False] * b_only + [True] * both + [False] * neither)
    cb = np.array([False] * a_only + [True] * b_only + [True] * both + [False] * neither)
    want = sm_mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue
    assert mcnemar(ca, cb).p == pytest.approx(want, rel=1e-12)


def test_q_values_are_benjamini_yekutieli_over_every_testable_row():
    ps = [0.001, 0.2, 0.03, math.nan, 0.004]
    verdicts = ["reproduced", "inconclusive", "not reproduced", "untestable", "reproduced"]
    rows = [ClaimResult("c", "", "", v, p=p, family="t: c") for v, p in zip(verdicts, ps)]
    rows.append(ClaimResult("d", "", "", "exploratory", p=0.001, family="t: d"))  # no verdict: not a test
    assign_q(rows)
    tested = [0, 1, 2, 4]
    want = multipletests([ps[i] for i in tested], method="fdr_by")[1]
    assert [rows[i].q for i in tested] == pytest.approx(list(want))
    assert math.isnan(rows[3].q) and math.isnan(rows[5].q)
