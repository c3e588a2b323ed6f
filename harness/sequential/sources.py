"""Where a real ``--decide`` gets its rows and runs its cells: the claims over the results, the executors.

The engine (engine.py) asks for rows and for seeds; here rows come from evaluating each track's
claims over the collected results (fresh cells only, as reports do), and seeds are added by
running the rows' cells with new seeds through the same batch path as ``harness run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.claims import NA, UNTESTABLE
from harness.engine.batch import ExecOptions, run_batch
from harness.sequential.cells import CellIndex, core_seconds
from harness.sequential.engine import RowView


def claim_rows(results: str | Path, tracks: list[str], scale: str, looks: Any = None) -> list[Any]:
    """Every claim row (``ClaimResult``) of ``tracks`` over the results of ``scale`` (a track without
    results there, or no longer registered, has none)."""
    from harness.report.publish import evaluate_claims, load

    table, classes, _ = load(str(results), None, scale)
    wanted = [cls for cls in classes if cls.name in tracks]
    return [r for cls in wanted for r in evaluate_claims(table[table["track"] == cls.name], cls, looks)]


def seed_rows(claims: list[Any]) -> list[Any]:
    """The rows a sequential design can hold: testable, paired over seeds, at least two seeds."""
    return [r for r in claims if r.sample is not None and r.sample.n >= 2 and r.verdict not in (UNTESTABLE, NA)]


class ResultsSource:
    """Rows of the design's tracks, re-read from the results before every look."""

    def __init__(self, results: str | Path, tracks: list[str], scale: str):
        self.results, self.tracks, self.scale = Path(results), tracks, scale

    def rows(self) -> list[RowView]:
        index = CellIndex.read(self.results)
        return [
            RowView(r.row_id, r.family, r.sample, index.templates(r.sample.keys))
            for r in seed_rows(claim_rows(self.results, self.tracks, self.scale))
        ]


class ExecutorRunner:
    """Adds seeds by running cells like ``harness run`` (kill-safe: finished cells are kept)."""

    def __init__(self, results: str | Path, opts: ExecOptions):
        self.results, self.opts = Path(results), opts

    def run(self, targets: dict[str, int], rows: dict[str, RowView]) -> float:
        from harness.engine.estimate import estimate, longest_first
        from harness.engine.planner import plan
        from harness.engine.store import Store
        from harness.suite import check_methods

        wanted: dict[str, int] = {}
        for rid, n in targets.items():
            for tid in rows[rid].templates if rid in rows else ():
                wanted[tid] = max(wanted.get(tid, 0), n)
        index = CellIndex.read(self.results)
        cells = {c.key: c for tid, n in sorted(wanted.items()) for c in index.cells_for(tid, n)}
        store = Store(self.results)
        p = plan(list(cells.values()), store)
        click.echo(
            f"decide: round for {len(targets)} undecided row(s): {len(p.todo)} cell(s) with new seeds "
            f"({len(p.failed_kept)} failed earlier, kept)",
            err=True,
        )
        if not p.todo:
            return 0.0
        est = estimate(p.todo)
        check_methods(p.todo)
        run_batch(longest_first(p.todo, est), est, store, self.opts)
        return sum(core_seconds(rec) for c in p.todo if (rec := store.read(c.track, c.key)) is not None)
