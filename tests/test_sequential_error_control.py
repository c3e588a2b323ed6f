"""Proof that ``--decide`` keeps its error rates, per side, at the seed counts it runs.

Why these numbers: each one-sided test may spend at most 0.025 (two-sided 0.05). A million
simulated designs per schedule (vectorised: sequential_sim.py) put the standard error of a rate
near 0.025 at 0.00016, so the bound tested, 0.025 + 3 standard errors (~0.0255), fails the
boundaries the harness used before (z boundaries mapped through each look's t: ~0.0265 per side at
looks 3/6/9/12; run these tests with KEXUE_BENCH_OLD_BOUNDARIES=1 to see them fail), while the exact
t-scale boundaries pass. The boundaries were calibrated on other draws (their own seed), so the
check is out of sample. Every kind of test the design runs is checked where its error is largest:
the claimed and the other side at no effect, "smaller than the smallest effect" at the smallest
effect, non-inferiority at the margin, and both edges of an equivalence band, for the looks 3/6/9/12,
5/8/12, 4/8/12 and a single look at 12. The production engine, run on a subsample of the same
draws, must reach the same verdict at the same look, row for row, so the rates are the engine's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sequential_sim import CODE, OLD, SimulatedCells, draws, moments, rate, t_stats, verdicts

from harness.sequential.design import Design, DesignSettings, register
from harness.sequential.engine import Engine
from harness.sequential.ledger import Ledger

N_MAX = 12
DESIGNS = 1 << 20
SCHEDULES = [(3, 6, 9, 12), (5, 8, 12), (4, 8, 12), (12,)]
SETTINGS = {(3, 6, 9, 12): DesignSettings(12, 3), (5, 8, 12): DesignSettings(12, 3), (4, 8, 12): DesignSettings(12, 4)}
SETTINGS[(12,)] = DesignSettings(12, 3)
CASES = {  # kind, true mean (sd 1), thresholds, the wrong verdicts: each must stay <= 0.025
    "no effect: claimed side": ("superiority", 0.0, {}, {CODE[("reproduced", "claimed side")]}),
    "no effect: other side": ("superiority", 0.0, {}, {CODE[("not reproduced", "other side")]}),
    "at the smallest effect: smaller": ("superiority", 0.25, {"delta": 0.25}, {3, 4, 2}),
    "at the margin: above -margin": ("non-inferiority", -0.5, {"margin": 0.5}, {5}),
    "at the margin: below -margin": ("non-inferiority", -0.5, {"margin": 0.5}, {6}),
    "at the upper band edge: inside": ("equivalence", 1.0, {"band": 1.0}, {7}),
    "at the upper band edge: outside": ("equivalence", 1.0, {"band": 1.0}, {8}),
    "at the lower band edge: inside": ("equivalence", -1.0, {"band": 1.0}, {7}),
    "at the lower band edge: outside": ("equivalence", -1.0, {"band": 1.0}, {8}),
}


@pytest.fixture(scope="module")
def rates() -> dict:
    """Every case's wrong-verdict rate, per schedule, over DESIGNS designs (fixed seeds)."""
    out = {}
    for s, looks in enumerate(SCHEDULES):
        noise = moments(np.random.default_rng(20260 + s).standard_normal((DESIGNS, N_MAX)), looks)
        done: dict = {}  # cases with the same kind, mean and thresholds share one run of the rule
        for name, (kind, mean, thresholds, wrong) in CASES.items():
            key = (kind, mean, tuple(sorted(thresholds.items())))
            if key not in done:
                done[key] = verdicts([t_stats(noise, looks, kind, shift=mean, **thresholds)], looks, N_MAX, kind)[0]
            out[(looks, name)] = rate(done[key], wrong)
    return out


@pytest.mark.parametrize("looks", SCHEDULES, ids=lambda s: "/".join(map(str, s)))
@pytest.mark.parametrize("case", list(CASES))
def test_each_side_spends_at_most_its_alpha(rates, looks, case):
    p, se = rates[(looks, case)]
    assert p <= 0.025 + 3 * se, f"{case} at looks {looks}: {p:.5f} +- {se:.5f}"


@pytest.mark.parametrize("looks", SCHEDULES, ids=lambda s: "/".join(map(str, s)))
def test_the_boundaries_spend_their_alpha_and_not_much_less(rates, looks):
    """Exact, not merely conservative: with no futility test to stop rows early, each side at no
    effect spends 0.025 within simulation error."""
    for case in ("no effect: claimed side", "no effect: other side"):
        p, se = rates[(looks, case)]
        assert abs(p - 0.025) <= 4 * se, f"{case} at looks {looks}: {p:.5f}"


def test_naive_retesting_at_every_look_is_what_the_design_prevents():
    """The same draws tested at a fixed-n 0.025 per side at each of the looks 3/6/9/12: the
    two-sided false-positive rate exceeds 0.1 (vs 0.05 by design)."""
    looks = (3, 6, 9, 12)
    noise = np.random.default_rng(11).standard_normal((200_000, N_MAX))
    t = t_stats(noise, looks, "superiority")["up"]
    fixed = np.array([stats.t.ppf(0.975, n - 1) for n in looks])
    naive = (np.abs(t) >= fixed).any(axis=1).mean()
    assert naive > 0.1, naive


def test_holm_in_the_order_rows_stop_keeps_the_familywise_rate():
    """Three rows of one claim with no effect and a live smallest-effect test: the chance that any
    row reads 'reproduced' or 'other side' stays <= 0.05 (+ 3 standard errors)."""
    looks, designs = (3, 6, 9, 12), 200_000
    x = draws(np.random.default_rng(3), designs, 3, N_MAX, 0.0)
    codes, _ = verdicts(
        [t_stats(x[:, r], looks, "superiority", delta=0.5) for r in range(3)], looks, N_MAX, "superiority"
    )
    wrong = np.isin(codes, [1, 2]).any(axis=1).mean()
    assert wrong <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / designs), wrong


def test_power_stays_near_a_fixed_design_at_the_same_maximum():
    """Standardised effect 0.8, smallest effect 0.5: the design reproduces nearly as often as testing
    all 12 seeds at once, and stops earlier (informative: the price of exact boundaries)."""
    looks = (3, 6, 9, 12)
    x = np.random.default_rng(7).normal(0.8, 1.0, (100_000, N_MAX))
    codes, stop = verdicts([t_stats(x, looks, "superiority", delta=0.5)], looks, N_MAX, "superiority")
    seq = (codes[:, 0] == 1).mean()
    fixed = (t_stats(x, (12,), "superiority")["up"][:, 0] >= stats.t.ppf(0.975, 11)).mean()
    assert seq >= fixed - 0.05, (seq, fixed)
    assert np.where(stop[:, 0] >= 0, np.take(looks, stop[:, 0]), 12).mean() < 11.5


def engine_codes(values: np.ndarray, looks: tuple[int, ...], kind: str, **thresholds) -> tuple[np.ndarray, np.ndarray]:
    """The production engine's verdict codes and stopping look index on ``values`` (designs x rows x seeds)."""
    settings = SETTINGS[looks]
    thr = {{"delta": "smallest_effect"}.get(k, k): v for k, v in thresholds.items()}
    codes = np.zeros(values.shape[:2], np.int8)
    stop = np.full(values.shape[:2], -1)
    for d, rows in enumerate(values):
        cells = SimulatedCells(rows, looks[0], kind, **thr)
        design = Design(settings)
        for r in cells.rows():
            design.rows[r.row_id] = register(settings, r.row_id, "sim", "claim", r.row_id, r.sample)
        ledger = Ledger()
        summary = Engine(design, ledger, cells, cells).run()
        for r in range(len(rows)):
            v = summary.verdicts.get(f"r{r}")
            codes[d, r] = CODE.get((v.verdict, v.decided_by), 0) if v else 0
            frozen = ledger.verdicts.get(f"r{r}")
            stop[d, r] = frozen.look - 1 if frozen else -1
    return codes, stop


@pytest.mark.skipif(OLD, reason="compares the production engine with the rule at the production boundaries")
@pytest.mark.parametrize(
    ("kind", "mean", "thresholds", "rows", "looks"),
    [
        ("superiority", 0.0, {"delta": 0.5}, 1, (3, 6, 9, 12)),
        ("superiority", 0.4, {"delta": 0.5}, 3, (3, 6, 9, 12)),
        ("non-inferiority", -0.3, {"margin": 0.5}, 2, (5, 8, 12)),
        ("equivalence", 0.5, {"band": 1.0}, 2, (4, 8, 12)),
        ("superiority", 0.3, {}, 2, (12,)),
    ],
)
def test_the_engine_agrees_with_the_vectorised_rule_verdict_for_verdict(kind, mean, thresholds, rows, looks):
    x = draws(np.random.default_rng(99), 150, rows, N_MAX, mean)
    want, want_stop = verdicts([t_stats(x[:, r], looks, kind, **thresholds) for r in range(rows)], looks, N_MAX, kind)
    got, got_stop = engine_codes(x, looks, kind, **thresholds)
    assert (got == want).all(), np.argwhere(got != want)[:5]
    assert (got_stop == want_stop).all()
    assert len(set(want.ravel())) > 1  # the sample holds more than one verdict: the check compares something
