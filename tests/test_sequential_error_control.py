"""Proof that ``--decide`` keeps its error rates: tens of thousands of simulated designs through the engine.

Why simulate through the engine: the rounds (looks, Holm, stopping, choosing rows) are the code a
real ``harness run --decide`` executes; only the cells are replaced by draws from a normal
distribution (a simulated cell runner), so the rates below are the rates of the real design.
Naive re-testing (a fixed-n test at every look) runs through the same loop and must show the
inflation the design prevents, so the check has teeth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from harness.claims.rule import FixedTests, Look
from harness.claims.sample import RowSample
from harness.sequential.design import Design, DesignSettings, register
from harness.sequential.engine import Engine, RowView, Template
from harness.sequential.ledger import Ledger

SETTINGS = DesignSettings(max_seeds=12, look_every=3)  # the --decide defaults: looks at 3, 6, 9, 12 seeds


class SimulatedCells:
    """A source and a runner at once: each row's per-seed values are drawn in advance (up to the
    design's maximum), and "running a seed" reveals the next one."""

    def __init__(self, draws: np.ndarray, n0: int, smallest_effect: float):
        self.draws, self.n, self.effect = draws, [n0] * len(draws), smallest_effect

    def rows(self) -> list[RowView]:
        return [
            RowView(
                f"r{i}",
                "claim",
                RowSample(dict(enumerate(d[: self.n[i]])), "superiority", smallest_effect=self.effect),
                {f"t{i}": Template(1.0, self.n[i])},
            )
            for i, d in enumerate(self.draws)
        ]

    def run(self, targets: dict[str, int], rows: dict[str, RowView]) -> float:
        spent = 0
        for rid, n in targets.items():
            i = int(rid[1:])
            spent += max(0, n - self.n[i])
            self.n[i] = max(self.n[i], n)
        return float(spent)


class NaiveTests:
    """What the design replaces: every look tested at the full level, as if it were the only one."""

    def __init__(self, sample: RowSample, looks: list[Look], n_max: int, spending: str):
        self.fixed = [FixedTests(_sample_at(sample, lk)) for lk in looks]

    def p(self, name: str) -> float:
        return min(t.p(name) for t in self.fixed)

    def p_le(self, name: str, level: float) -> bool:
        return any(t.p_le(name, level) for t in self.fixed)


def _sample_at(sample: RowSample, look: Look) -> RowSample:
    return sample.first(look.n)


def simulate(rng, n_designs, mean, rows=1, effect=math.nan, tests=None):
    """Verdicts of ``n_designs`` designs with ``rows`` rows of true standardised mean ``mean``, and
    the fixed-design verdicts at the maximum seeds on the same draws."""
    out, fixed = [], []
    for _ in range(n_designs):
        draws = rng.normal(mean, 1.0, (rows, SETTINGS.max_seeds))
        cells = SimulatedCells(draws, 3, effect)
        design = Design(SETTINGS)
        for r in cells.rows():
            design.rows[r.row_id] = register(SETTINGS, r.row_id, "sim", "claim", r.row_id, r.sample)
        engine = Engine(design, Ledger(), cells, cells, **({"tests": tests} if tests else {}))
        out.append(engine.run().verdicts)
        n = SETTINGS.max_seeds
        t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
        fixed.append(2 * special.stdtr(n - 1, -np.abs(t)) < 0.05)
    return out, fixed


def _rejected(d) -> bool:
    return d.verdict == "reproduced" or d.decided_by == "other side"


def test_false_positive_rate_stays_at_five_percent_under_the_null():
    """20,000 designs, no true difference, no futility stop to help: the two-sided error stays <= 0.055."""
    verdicts, _ = simulate(np.random.default_rng(2026), 20_000, 0.0)
    rate = np.mean([_rejected(v["r0"]) for v in verdicts])
    assert rate <= 0.055, rate
    assert rate >= 0.03, rate  # not a design that never rejects


def test_power_is_within_three_points_of_a_fixed_design_at_the_same_maximum():
    """Standardised effect 0.8, smallest effect of interest 0.5: the sequential design reproduces the
    claim nearly as often as testing all 12 seeds at once would, and stops earlier."""
    verdicts, fixed = simulate(np.random.default_rng(7), 10_000, 0.8, effect=0.5)
    seq = np.mean([v["r0"].verdict == "reproduced" for v in verdicts])
    fix = np.mean([f[0] for f in fixed])
    assert seq >= fix - 0.03, (seq, fix)
    assert fix == pytest.approx(0.714, abs=0.02)  # noncentral t power at n = 12, d = 0.8


def test_naive_retesting_inflates_the_false_positive_rate():
    """The same loop with a fixed-n test at each of the looks (3, 6, 9, 12 seeds) rejects a true null
    more than 8% of the time: the check above would catch a design that re-tests naively."""
    verdicts, _ = simulate(np.random.default_rng(11), 5_000, 0.0, tests=NaiveTests)
    rate = np.mean([_rejected(v["r0"]) for v in verdicts])
    assert rate > 0.08, rate


def test_holm_over_a_claims_rows_keeps_the_familywise_rate():
    """Three null rows of one claim: the chance that any is falsely decided stays <= 0.055, with the
    smallest-effect futility test live (it can only stop rows, never reject a true null)."""
    verdicts, _ = simulate(np.random.default_rng(3), 4_000, 0.0, rows=3, effect=0.5)
    rate = np.mean([any(_rejected(d) for d in v.values()) for v in verdicts])
    assert rate <= 0.055, rate


def test_a_smallest_effect_decides_null_rows_without_declaring_true_effects_small():
    """Under the null most rows end 'not reproduced: smaller than the smallest effect'; at an effect
    equal to the smallest effect that verdict is an error and stays below 2.5%."""
    null, _ = simulate(np.random.default_rng(5), 2_000, 0.0, effect=1.0)
    small = np.mean([v["r0"].decided_by == "smaller than the smallest effect" for v in null])
    assert small > 0.5, small
    at_effect, _ = simulate(np.random.default_rng(6), 4_000, 1.0, effect=1.0)
    wrong = np.mean([v["r0"].decided_by == "smaller than the smallest effect" for v in at_effect])
    assert wrong <= 0.03, wrong
