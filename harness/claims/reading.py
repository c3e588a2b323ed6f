"""How the claim rows of results with a ``--decide`` design are read: registered rows at their looks
(frozen verdicts as frozen), unregistered seed rows of a registered track as exploratory.

Why exploratory and never a verdict: a row that appears in a track after its rows were registered
(a claim added later, or a row that became testable later) has as many seeds as the design's rounds
gave the cells it shares with registered rows, a number that depends on those rows' data; a
fixed-n test at that count is an uncontrolled over-run and no boundary of the design covers it.
Such a row prints its estimate and interval, labelled, without a verdict; it gets one in a new
design (a fresh results directory), whose rows are all registered before their first added seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.claims.row_tests import RowLooks, SequentialTests, kept_looks

EXPLORATORY = "exploratory"
EXPLORATORY_NOTE = (
    "exploratory: not registered in this results' --decide design (it appeared after its track's rows "
    "were registered), so no verdict; a new design registers it before its first added seed"
)


@dataclass
class DesignReading:
    """The registered rows of a design by row id (their looks, schedules and frozen verdicts), the
    tracks the design registered, and a note when its looks are re-read under other boundaries."""

    rows: dict[str, RowLooks] = field(default_factory=dict)
    tracks: frozenset[str] = frozenset()
    note: str = ""  # e.g. the design's looks re-read under the exact t boundaries

    def get(self, row_id: str) -> RowLooks | None:
        return self.rows.get(row_id)


def as_reading(looks: DesignReading | Mapping[str, RowLooks] | None) -> DesignReading | None:
    """A plain mapping of row looks (tests, simulations) is a reading without registered tracks."""
    if looks is None or isinstance(looks, DesignReading):
        return looks
    return DesignReading(dict(looks))


def sequential_tests(sample: Any, design: RowLooks) -> SequentialTests:
    """The row's tests at its looks: up to the look its verdict froze at, when it stopped."""
    up_to = design.frozen.look if design.frozen is not None else None
    return SequentialTests(sample, design.looks, design.n_max, design.spending, design.schedule, up_to)


def with_replayed(kind: str, members: Sequence[tuple[Any, RowLooks]]) -> list[RowLooks]:
    """The members' looks with frozen verdicts, replayed where the design kept none (a design of an
    older boundary method): its looks are read again in the order they were taken, the step-down
    after each, and a row freezes at the first look where it is decided (later looks, which the old
    rule may have taken, change its printed estimate only)."""
    if not any(d.replay and d.frozen is None for _, d in members):
        return [d for _, d in members]
    from harness.claims.rule import RowInput, decide

    events = sorted((lk.order, lk.look, i) for i, (_, d) in enumerate(members) for lk in kept_looks(d.looks))
    seen, frozen = [0] * len(members), {}
    for _, look, i in events:
        if i in frozen:
            continue
        seen[i] = look
        live = [j for j in range(len(members)) if seen[j]]
        tests = [SequentialTests(s, d.looks, d.n_max, d.spending, d.schedule, seen[j]) for j, (s, d) in
                 ((j, members[j]) for j in live)]  # fmt: skip
        decisions = decide([RowInput(kind, t) for t in tests], {live.index(j): f for j, f in frozen.items()}, False)
        for j, t, d in zip(live, tests, decisions):
            if d.decided and j not in frozen:
                frozen[j] = d.frozen(t.looks[-1].look, t.looks[-1].n)
    return [replace(d, frozen=frozen.get(i)) if d.replay else d for i, (_, d) in enumerate(members)]


def describe(result: Any, tests: SequentialTests, design: RowLooks, fmt: Any) -> None:
    """Fill a claim row from its looks: the look and seeds of its verdict, the estimate and repeated
    95% interval there, and (labelled) the estimate over every seed it has now when that is more."""
    if not tests.looks:
        return
    last = tests.looks[-1]
    sample = result.sample
    result.look, result.n, result.estimate = last.look, last.n, last.mean
    result.ci_lo, result.ci_hi = tests.interval()
    units = result.units or "the row units"
    stopped = "stopped at" if design.frozen is not None else "last look"
    result.ours += (
        f"; sequential ({stopped}): look {last.look} at n={last.n}, estimate {fmt(last.mean)}, repeated 95% "
        f"interval [{fmt(result.ci_lo)}, {fmt(result.ci_hi)}] ({units})"
    )
    if sample is not None and sample.n > last.n:
        lo, hi = sample.ci()
        result.n_updated, result.estimate_updated = sample.n, sample.mean
        why = (
            "estimate updated after the row stopped (the verdict stays that of its look)"
            if design.frozen is not None
            else "estimate with seeds the next look has not read yet"
        )
        result.ours += f"; {why}: n={sample.n}, {fmt(sample.mean)} [{fmt(lo)}, {fmt(hi)}] (fixed-n interval)"


def exploratory(result: Any) -> None:
    """Mark a seed row of a registered track that the design does not hold."""
    result.verdict, result.decided_by = EXPLORATORY, ""
    result.p = result.p_holm = math.nan
    result.ours += f"; {EXPLORATORY_NOTE}"
