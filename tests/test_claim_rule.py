"""The verdict rule: smallest effects of interest, the 0.025 convention, sequential rows, bad declarations.

Why these tests: a verdict must agree with the interval the table prints (one-sided 0.025 against
a two-sided 95% interval), a row significantly smaller than its smallest effect must read "not
reproduced" (or "reproduced, flagged" when both hold), and a malformed claim must stop a run
before any cell, in one line.
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
from harness.claims.rule import FLAG_SMALLER, SMALLER, FixedTests, RowInput, decide
from harness.claims.trend import per_seed_change
from harness.errors import HarnessError


def _one(values, kind="superiority", **kw):
    sample = RowSample(dict(enumerate(values)), kind, **kw)
    return sample, decide([RowInput(kind, FixedTests(sample))])[0]


def test_a_significant_effect_below_the_smallest_effect_is_reproduced_but_flagged():
    sample, d = _one([0.010, 0.011, 0.0105, 0.0102, 0.0108], smallest_effect=0.05)
    assert d.verdict == "reproduced" and d.decided_by == FLAG_SMALLER
    _, d = _one([0.001, -0.002, 0.0015, 0.0, -0.001], smallest_effect=0.05)
    assert d.verdict == "not reproduced" and d.decided_by == SMALLER
    _, d = _one([0.06, 0.09, 0.07, 0.08, 0.065], smallest_effect=0.05)
    assert d.verdict == "reproduced" and d.decided_by == "claimed side"


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
    assert (d.verdict == "reproduced") == (lo > 0)
    # an interval entirely below 0 reads "other side" first (it is below the smallest effect too)
    assert (d.decided_by in (SMALLER, FLAG_SMALLER, "other side")) == (hi < 0.03)


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
    looks = {fixed.row_id: RowLooks(12, [Look(1, 3, first.mean, first.sd), Look(2, 6, sample.mean, sample.sd)])}
    seq = claim.evaluate(None, "toy", looks)[0]
    assert seq.look == 2 and seq.n == 6 and "sequential: look 2 at n=6" in seq.ours
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
