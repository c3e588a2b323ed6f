"""``harness run --decide``: write (or check) the design, then run rounds of added seeds until decided.

The plain run of the suite comes first (its cells are every row's first seeds); the design is
written before the first added seed; the budget is counted in core-minutes over every round of
the design (a rerun after a kill continues, it does not start the budget again).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from harness.claims import REPRODUCED
from harness.engine.batch import ExecOptions
from harness.errors import HarnessError
from harness.sequential import design as designs
from harness.sequential.cells import CellIndex, core_seconds
from harness.sequential.engine import Engine, Summary
from harness.sequential.ledger import FileLedger
from harness.sequential.sources import ExecutorRunner, ResultsSource, claim_rows, seed_rows


def check_options(results: str | Path, max_seeds: int | None, look_every: int | None) -> None:
    """Before any cell runs: a changed design is one line (exit 2)."""
    design = designs.load(results)
    if design is not None:
        designs.check_method(design, results)
        designs.check_unchanged(design, {"max_seeds": max_seeds, "look_every": look_every}, results)
    else:
        designs.DesignSettings(max_seeds or 12, look_every or 3).check()


def run_decide(
    results: str | Path,
    tracks: list[str],
    scale: str,
    opts: ExecOptions,
    max_seeds: int | None,
    look_every: int | None,
    budget_minutes: float | None,
    suite_keys: list[str],
) -> Summary:
    """Rounds of added seeds for the rows of ``tracks`` (the suite's own cells already run)."""
    design = designs.load(results)
    if design is None:
        design = _new_design(results, tracks, scale, max_seeds, look_every)
    else:
        designs.check_method(design, results)
        designs.check_unchanged(design, {"max_seeds": max_seeds, "look_every": look_every}, results)
        if design.scale and design.scale != scale:
            raise HarnessError(f"the --decide design of {results}/ is for scale {design.scale}, not {scale}")
        _check_and_extend(results, design, tracks, scale)
    budget = _budget(results, budget_minutes, suite_keys)
    ledger = FileLedger(results)
    design_tracks = sorted({r.track for r in design.rows.values()})
    engine = Engine(design, ledger, ResultsSource(results, design_tracks, scale), ExecutorRunner(results, opts), budget)
    summary = engine.run()
    _report(design, summary, ledger, results)
    return summary


def _new_design(
    results: str | Path, tracks: list[str], scale: str, max_seeds: int | None, look_every: int | None
) -> designs.Design:
    settings = designs.DesignSettings(max_seeds or 12, look_every or 3)
    settings.check()
    design = designs.Design(settings, scale=scale)
    for r in seed_rows(claim_rows(results, tracks, scale)):
        design.rows[r.row_id] = designs.register(settings, r.row_id, _track_of(r), r.claim, r.dataset, r.sample)
    if not design.rows:
        raise HarnessError("--decide: no testable claim row with at least 2 seeds in these results")
    path = designs.write_new(results, design)
    click.echo(
        f"decide: design written to {path}: {len(design.rows)} rows, at most {settings.max_seeds} seeds, "
        f"a look every {settings.look_every} seeds, Lan-DeMets O'Brien-Fleming-type spending at one-sided 0.025 "
        f"per test on exact t-scale boundaries ({design.method}), Holm in the order rows stop, verdicts frozen "
        f"where rows stop, non-binding futility (smaller than the smallest effect)",
        err=True,
    )
    return design


def _check_and_extend(results: str | Path, design: designs.Design, tracks: list[str], scale: str) -> None:
    """Refuse rows whose thresholds changed; register the rows of tracks the design has none of yet
    (a later call over other tracks), before any seed is added to them."""
    known = {r.track for r in design.rows.values()}
    new = []
    for r in seed_rows(claim_rows(results, sorted(known | set(tracks)), scale)):
        designs.check_thresholds(design, r.row_id, r.sample)
        if r.row_id not in design.rows and _track_of(r) not in known:
            new.append(designs.register(design.settings, r.row_id, _track_of(r), r.claim, r.dataset, r.sample))
    if new:
        designs.add_rows(results, design, new)
        added = ", ".join(sorted({r.track for r in new}))
        click.echo(f"decide: registered {len(new)} rows of {added} in the design (its settings unchanged)", err=True)


def _track_of(row: Any) -> str:
    return row.family.split(": ", 1)[0]


def _budget(results: str | Path, budget_minutes: float | None, suite_keys: list[str]) -> float:
    """Core-seconds the design may spend: --budget, or by default what the suite's own cells cost."""
    if budget_minutes is not None:
        return budget_minutes * 60.0
    index = CellIndex.read(results)
    own = sum(core_seconds(index.by_key[k]) for k in suite_keys if k in index.by_key)
    what = "the suite's own measured compute; --budget to change"
    click.echo(f"decide: budget {own / 60:.2f} core-minutes ({what})", err=True)
    return own if own > 0 else math.inf


def _report(design: designs.Design, summary: Summary, ledger: FileLedger, results: Any) -> None:
    tally: dict[str, dict[str, int]] = {}
    for rid, row in design.rows.items():
        d = summary.verdicts.get(rid)
        verdict = d.verdict if d else "no look"
        key = f"{verdict} ({d.decided_by})" if d and d.decided_by else verdict
        tally.setdefault(row.track, {}).setdefault(key, 0)
        tally[row.track][key] += 1
    for track, counts in sorted(tally.items()):
        click.echo(f"decide: {track}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), err=True)
    decided = sum(1 for d in summary.verdicts.values() if d.verdict != "inconclusive")
    reproduced = sum(1 for d in summary.verdicts.values() if d.verdict == REPRODUCED)
    click.echo(
        f"decide: {decided} of {len(design.rows)} design rows decided ({reproduced} reproduced) after "
        f"{summary.rounds} round(s); {summary.spent / 60:.1f} core-minutes spent, "
        f"{summary.budget_left / 60:.1f} left; `harness report --results {results}` shows the verdicts",
        err=True,
    )
