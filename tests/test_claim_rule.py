"""The verdict rule: smallest effects of interest, the 0.025 convention, sequential rows, bad declarations.

Why these tests: a verdict must agree with the interval the table prints (one-sided 0.025 against
a two-sided 95% interval), a row whose interval lies below its smallest effect must read "not
reproduced (smaller than the smallest effect)" whichever side of 0 it lies on (one reading, the
side chosen at the Holm level), no row may read "reproduced" with its interval below its smallest
effect, and a malformed claim must stop a run before any cell, in one line.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from harness.claims import (
    Claim,
    Evidence,
    Look,
    Published,
    RowLooks,
    RowSample,
    SmallestEffect,
    superiority,
)
from harness.claims.rule import HELD_OPEN, SMALLER, SMALLER_CLAIMED, FixedTests, RowInput, decide
from harness.claims.trend import per_seed_change
from harness.errors import HarnessError


def _one(values, kind="superiority", **kw):
    sample = RowSample(dict(enumerate(values)), kind, **kw)
    return sample, decide([RowInput(kind, FixedTests(sample))])[0]


def _with_interval(lo: float, hi: float, n: int = 6) -> list[float]:
    """n values whose two-sided 95% t interval is exactly [lo, hi]."""
    from scipy import stats

    base = np.array([-1.0, 1.0] * (n // 2))
    sd = (hi - lo) / 2 / stats.t.ppf(0.975, n - 1) * np.sqrt(n)
    return list((lo + hi) / 2 + base / base.std(ddof=1) * sd)


def test_an_interval_below_the_smallest_effect_is_not_reproduced_on_either_side_of_zero():
    """The audit's pair at delta = 0.01: (0.001, 0.009) and (-0.001, 0.009) read the same way now."""
    sample, d = _one(_with_interval(0.001, 0.009), smallest_effect=0.01)
    assert sample.ci() == pytest.approx((0.001, 0.009))
    assert d.verdict == "not reproduced" and d.decided_by == SMALLER_CLAIMED
    _, d = _one(_with_interval(-0.001, 0.009), smallest_effect=0.01)
    assert d.verdict == "not reproduced" and d.decided_by == SMALLER
    _, d = _one([0.06, 0.09, 0.07, 0.08, 0.065], smallest_effect=0.05)
    assert d.verdict == "reproduced" and d.decided_by == "claimed side"


def test_the_side_is_chosen_at_the_holm_level_and_a_low_interval_never_reads_reproduced():
    """Two rows (Holm's first step at 0.025 / 2 per side): a row significantly above 0 at that level
    whose 95% interval lies below its smallest effect, but not significantly so at that level, stays
    open with a note; it is neither 'reproduced' nor 'smaller' at the unadjusted 0.025."""
    from scipy import stats

    n, delta = 6, 0.01
    crit_holm, crit = stats.t.ppf(1 - 0.0125, n - 1), stats.t.ppf(0.975, n - 1)
    se = 0.001
    mean = delta - se * (crit + crit_holm) / 2  # "smaller": t between the 0.025 and the 0.0125 quantiles
    values = _with_interval(mean - crit * se, mean + crit * se, n)
    row = RowSample(dict(enumerate(values)), "superiority", smallest_effect=delta)
    other = RowSample(dict(enumerate([0.05, -0.04, 0.03, -0.06, 0.02, 0.0])), "superiority", smallest_effect=0.02)
    a, b = decide([RowInput("superiority", FixedTests(row)), RowInput("superiority", FixedTests(other))])
    assert row.ci()[1] < delta and mean / se > crit_holm  # the construction: the case the rule must hold open
    assert a.verdict == "inconclusive" and a.note == HELD_OPEN
    assert b.verdict == "inconclusive"
    (alone,) = decide([RowInput("superiority", FixedTests(row))])  # one row: 0.025 is its Holm level
    assert alone.verdict == "not reproduced" and alone.decided_by == SMALLER_CLAIMED


@pytest.mark.parametrize("shift", np.linspace(-0.03, 0.01, 17))
def test_noninferiority_verdict_agrees_with_the_printed_interval(shift):
    """One row: reproduced exactly when the two-sided 95% interval lies above -margin, not reproduced
    exactly when it lies below."""
    values = shift + np.array([0.004, -0.003, 0.006, -0.001, 0.002, -0.005])
    sample, d = _one(values, "non-inferiority", margin=0.01)
    lo, hi = sample.ci()
    assert (d.verdict == "reproduced") == (lo > -0.01)
    assert (d.verdict == "not reproduced") == (hi < -0.01)


@pytest.mark.parametrize("shift", np.linspace(-0.02, 0.02, 17))
def test_equivalence_verdict_agrees_with_the_printed_interval(shift):
    values = shift + np.array([0.004, -0.003, 0.006, -0.001, 0.002, -0.005])
    sample, d = _one(values, "equivalence", band=0.01)
    lo, hi = sample.ci()
    assert (d.verdict == "reproduced") == (-0.01 < lo and hi < 0.01)
    assert (d.verdict == "not reproduced") == (lo > 0.01 or hi < -0.01)


@pytest.mark.parametrize("shift", np.linspace(-0.01, 0.06, 15))
def test_smallest_effect_verdict_agrees_with_the_printed_interval(shift):
    values = shift + np.array([0.004, -0.003, 0.006, -0.001, 0.002, -0.005])
    sample, d = _one(values, smallest_effect=0.03)
    lo, hi = sample.ci()
    assert (d.verdict == "reproduced") == (lo > 0 and hi >= 0.03)
    # an interval entirely below 0 reads "other side" (it is below the smallest effect too)
    assert (d.decided_by in (SMALLER, SMALLER_CLAIMED, "other side")) == (hi < 0.03)
    assert (d.decided_by == SMALLER_CLAIMED) == (lo > 0 and hi < 0.03)


def test_declarations_are_checked_when_a_claim_is_built():
    with pytest.raises(HarnessError, match="needs smallest_effect"):
        superiority("a", "b", "acc")
    with pytest.raises(HarnessError, match="larger than the published effect"):
        superiority("a", "b", "acc", published=Published("0.80 -> 0.82", "x", effect=0.02),
                    smallest_effect=SmallestEffect(0.05, "too big"))  # fmt: skip
    with pytest.raises(HarnessError, match="needs a one-line reason"):
        SmallestEffect(0.01, " ")
    with pytest.raises(HarnessError, match="positive"):
        SmallestEffect(-0.01, "negative")


def test_a_row_of_a_decide_design_reads_its_looks():
    values = {s: v for s, v in enumerate([0.31, 0.22, 0.38, 0.25, 0.29, 0.33])}
    sample = RowSample(values, "superiority", smallest_effect=0.1)
    claim = Claim(
        "x beats y", lambda t, k: [Evidence("d", "ours", sample=sample)], smallest_effect=SmallestEffect(0.1, "r")
    )
    fixed = claim.evaluate(None, "toy")[0]
    assert fixed.verdict == "reproduced" and fixed.look is None and fixed.n == 6
    first = sample.first(3)
    taken = [Look(1, 3, first.mean, first.sd), Look(2, 6, sample.mean, sample.sd)]
    looks = {fixed.row_id: RowLooks(12, taken, "obf", [3, 6, 9, 12])}
    seq = claim.evaluate(None, "toy", looks)[0]
    assert seq.look == 2 and seq.n == 6 and "look 2 at n=6" in seq.ours
    assert seq.p > fixed.p  # the sequential p-value pays for the earlier look and for stopping early
    assert seq.ci_hi - seq.ci_lo > fixed.ci_hi - fixed.ci_lo  # the repeated interval is wider


def test_trend_change_across_the_grid_is_the_per_seed_least_squares_fit():
    pd = pytest.importorskip("pandas")
    rows = []
    for seed in range(3):
        for x, y in zip([0.1, 0.2, 0.4, 0.8], [1.0, 0.8, 0.7, 0.3]):
            rows.append({"seed": seed, "p.lr": x, "m.loss": y + 0.01 * seed * x})
    change = per_seed_change(pd.DataFrame(rows), "p.lr", "m.loss")
    for seed, c in change.items():
        ys = [y + 0.01 * seed * x for x, y in zip([0.1, 0.2, 0.4, 0.8], [1.0, 0.8, 0.7, 0.3])]
        assert c == pytest.approx(np.polyfit(range(4), ys, 1)[0] * 3)


BAD_PLUGIN = '''
from harness.claims import Claim, superiority
from harness.registry import dataset, method, track
from harness.track import Metric, Track


@track("bad-claims")
class BadClaims(Track):
    """A track whose claims are malformed (tests only)."""

    primary = "score"
    metrics = (Metric("score", True),)

    def run(self, cell, ctx):
        return {"score": 1.0}

    def claims(self):
        import os

        if os.environ.get("BAD_CLAIM") == "kind":
            return [Claim("x", lambda t, k: [], kind="vibes")]
        return [superiority("b", "a", "score")]


@dataset("one", tracks=("bad-claims",))
def one() -> dict:
    """Nothing."""
    return {}


@method("a", track="bad-claims", baseline=True)
def a() -> str:
    """Baseline."""
    return "a"


@method("b", track="bad-claims")
def b() -> str:
    """Other."""
    return "b"
'''


@pytest.mark.parametrize(("bad", "message"), [("effect", "needs smallest_effect"), ("kind", "kind 'vibes'")])
def test_a_malformed_claim_stops_a_run_in_one_line_before_any_cell(tmp_path, bad, message):
    (tmp_path / "bad_claims_plugin.py").write_text(textwrap.dedent(BAD_PLUGIN))
    suite = tmp_path / "s.toml"
    suite.write_text('[suite]\nname = "b"\nscale = "smoke"\nseeds = 2\n\n[[run]]\ntrack = "bad-claims"\n'
                     'datasets = ["one"]\nmethods = ["a", "b"]\n')  # fmt: skip
    env = dict(os.environ, KEXUE_BENCH_PLUGINS="bad_claims_plugin", BAD_CLAIM=bad)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    res = tmp_path / "res"
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--suite", str(suite), "--results", str(res), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not res.exists()


def test_ratio_rows_plan_at_their_observed_effect():
    sample = RowSample({0: 0.2, 1: 0.25, 2: 0.18}, "ratio")
    assert sample.planning_effect() == (pytest.approx(0.21), "observed effect")
    assert math.isnan(sample.smallest_effect)
