"""The ``--decide`` engine: verdicts frozen where rows stop, rows that share cells, a budget that ends a
design early, and how a report reads frozen, registered and unregistered rows.

Why: a verdict that a later read could change is no verdict (decide-audit.md: 38 of 5,000 rows read
"not reproduced" when they stopped and "reproduced" later); rows sharing a baseline receive seeds
through each other's rounds and must still be looked at only at their scheduled seed counts; a
design cut short by its budget must leave its open rows open, and resume where it stopped.
"""

from __future__ import annotations

import numpy as np
from sequential_sim import SimulatedCells

from harness.claims import Claim, Evidence, RowLooks, RowSample, SmallestEffect
from harness.claims.reading import EXPLORATORY, DesignReading
from harness.claims.row_tests import Frozen, Look
from harness.claims.rule import RowInput, SequentialTests, decide
from harness.sequential.design import Design, DesignSettings, register
from harness.sequential.engine import Engine
from harness.sequential.ledger import Ledger

SETTINGS = DesignSettings(12, 3)


def _engine(cells: SimulatedCells, budget: float = float("inf"), ledger: Ledger | None = None) -> tuple[Engine, Design]:
    design = Design(SETTINGS)
    for r in cells.rows():
        design.rows[r.row_id] = register(SETTINGS, r.row_id, "sim", "claim", r.row_id, r.sample)
    return Engine(design, ledger or Ledger(), cells, cells, budget), design


def test_a_verdict_frozen_where_its_row_stopped_never_changes():
    """Two-row claims (row A near half its smallest effect, row B clearly positive): once B stops,
    Holm's level for A rises; recomputing A's verdict at that level from the same looks would change
    it in some designs, yet every read returns the verdict frozen at the look where A stopped."""
    rng = np.random.default_rng(2024)
    changed_if_recomputed, checked = 0, 0
    for _ in range(300):
        values = np.stack([rng.normal(0.45, 0.6, 12), rng.normal(0.8, 0.6, 12)])
        cells = SimulatedCells(values, 3, "superiority", smallest_effect=1.0)
        engine, design = _engine(cells)
        summary = engine.run()
        frozen = dict(engine.ledger.verdicts)
        for rid, f in frozen.items():
            checked += 1
            assert (summary.verdicts[rid].verdict, summary.verdicts[rid].decided_by) == (f.verdict, f.decided_by)
            assert engine.ledger.looks[rid][-1].look == f.look  # a stopped row took no later look
        rows = cells.rows()
        assert {r: d.verdict for r, d in engine.decisions(rows).items() if r in frozen} == {
            r: f.verdict for r, f in frozen.items()
        }
        looks = engine.ledger.row_looks(design)
        tests = [SequentialTests(r.sample, looks[r.row_id].looks, 12, "obf", [3, 6, 9, 12]) for r in rows]
        again = decide([RowInput(r.kind, t) for r, t in zip(rows, tests)], with_p=False)  # no frozen verdicts
        changed_if_recomputed += any(
            (d.verdict, d.decided_by) != (frozen[r.row_id].verdict, frozen[r.row_id].decided_by)
            for r, d in zip(rows, again)
            if r.row_id in frozen
        )
    assert checked > 300
    assert changed_if_recomputed > 0  # the freezing matters: without it these verdicts would move


def test_rows_sharing_cells_are_looked_at_only_at_their_scheduled_seed_counts():
    """Rows A and B share the baseline template; B's rounds give A's cells seeds too. A stopped at its
    first look (a large effect) takes no later look; C, registered at 3 seeds, catches up through
    the seeds B's rounds added: one look per scheduled count, each on its first n seeds."""
    values = np.stack([np.full(12, 2.0) + np.arange(12) * 1e-3, np.tile([0.3, -0.2, 0.1], 4), np.tile([0.5, 0.1], 6)])
    cells = SimulatedCells(values, 3, "superiority", uses=[["a", "base"], ["b", "base"], ["c", "base"]])
    engine, _ = _engine(cells)
    engine.run()
    ledger = engine.ledger
    assert [lk.n for lk in ledger.looks["r0"]] == [3] and ledger.verdicts["r0"].verdict == "reproduced"
    assert [lk.n for lk in ledger.looks["r1"]] == [3, 6, 9, 12][: len(ledger.looks["r1"])]
    assert all(lk.n in (3, 6, 9, 12) for lk in ledger.looks["r2"])
    assert cells.cost == sum(max(0, n - 3) for n in cells.seeds.values())  # a shared template is paid once
    rows = {r.row_id: r for r in cells.rows()}
    assert rows["r0"].sample.n >= 3  # A's sample may grow through the shared baseline; its verdict does not
    first = rows["r1"].sample.first(ledger.looks["r1"][-1].n)
    assert ledger.looks["r1"][-1].mean == first.mean  # a look reads the first n seeds, in seed order


def test_a_budget_ends_the_design_early_and_a_later_budget_resumes_it():
    rng = np.random.default_rng(5)
    values = np.stack([rng.normal(0.3, 1.0, 12) for _ in range(3)])
    cells = SimulatedCells(values, 3, "superiority", smallest_effect=2.0)
    engine, design = _engine(cells, budget=7.0)
    summary = engine.run()
    assert summary.spent <= 7.0 and summary.budget_left >= 0
    open_rows = [rid for rid in design.rows if rid not in engine.ledger.verdicts]
    assert open_rows and all(summary.verdicts[rid].verdict == "inconclusive" for rid in open_rows)
    n_before = {rid: engine.ledger.last_n(rid) for rid in design.rows}
    more = Engine(design, engine.ledger, cells, cells, budget=1000.0).run()
    assert more.spent > summary.spent  # the same ledger: the design goes on where it stopped
    assert all(engine.ledger.last_n(rid) >= n for rid, n in n_before.items())
    assert all(more.verdicts[rid].decided or engine.ledger.last_n(rid) == 12 for rid in design.rows)


def _claim(sample: RowSample) -> Claim:
    return Claim(
        "x beats y", lambda t, k: [Evidence("d", "ours", sample=sample)], smallest_effect=SmallestEffect(0.1, "r")
    )


def test_a_report_reads_a_frozen_verdict_and_labels_the_estimate_updated_after_it():
    """A row frozen at look 1 (3 seeds) whose cells later reached 9 seeds through shared cells."""
    sample = RowSample(
        dict(enumerate([0.31, 0.22, 0.38, -0.9, -0.8, -1.0, -0.7, -0.95, -0.85])), "superiority", smallest_effect=0.1
    )
    claim = _claim(sample)
    rid = claim.evaluate(None, "toy")[0].row_id
    first = sample.first(3)
    frozen = Frozen("reproduced", "claimed side", 1, 3, 0.025, 1)
    reading = DesignReading(
        {rid: RowLooks(12, [Look(1, 3, first.mean, first.sd)], "obf", [3, 6, 9, 12], frozen)}, frozenset({"toy"})
    )
    row = claim.evaluate(None, "toy", reading)[0]
    assert (row.verdict, row.decided_by, row.look, row.n) == ("reproduced", "claimed side", 1, 3)
    assert row.estimate == first.mean and row.n_updated == 9 and row.estimate_updated == sample.mean
    assert "estimate updated after the row stopped" in row.ours  # the later seeds say otherwise, labelled


def test_a_seed_row_the_design_did_not_register_is_exploratory_never_a_verdict():
    sample = RowSample(dict(enumerate([0.31, 0.22, 0.38, 0.25, 0.29])), "superiority", smallest_effect=0.1)
    claim = _claim(sample)
    assert claim.evaluate(None, "toy")[0].verdict == "reproduced"  # read at fixed n it would decide
    row = claim.evaluate(None, "toy", DesignReading({}, frozenset({"toy"})))[0]
    assert row.verdict == EXPLORATORY and row.p != row.p and "exploratory" in row.ours
    other_track = claim.evaluate(None, "toy", DesignReading({}, frozenset({"elsewhere"})))[0]
    assert other_track.verdict == "reproduced"  # a track the design never registered reads at fixed n
