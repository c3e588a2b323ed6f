"""The rounds of ``harness run --decide``: look, decide, add seeds only where a decision is still open.

Why this loop is separate from where rows and cells come from: the same code runs a real suite
(rows from claims over the results, cells through an executor, sources.py) and tens of thousands
of simulated designs (rows drawn from a distribution, tests/test_sequential_error_control.py), so
the error control that the simulation proves is the error control of the real runs.

One round: every open design row whose seeds reached its next scheduled look (or the target of
the round just finished) takes that look; the claims' rule decides with repeated p-values against
exact t-scale boundaries and Holm's step-down over each claim's rows in the order rows stop; a row
that is decided stops and its verdict is frozen in the ledger with its look (later reads never
recompute it); looks already due (seeds from cells other rows share) are all taken, one pass at a
time, before any seed is added; the open rows are ordered by their chance of a decision at their
next look per core-second of the cells they need, and chosen while the budget lasts; the round is
written to the ledger, its cells run, and the loop looks again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from scipy import special

from harness.claims.row_tests import SequentialTests
from harness.claims.rule import INCONCLUSIVE, ONE_SIDED, Decision, RowInput, decide
from harness.claims.sample import RowSample
from harness.sequential.design import Design
from harness.sequential.ledger import Ledger, Round
from harness.sequential.t_boundaries import sequence, table


@dataclass
class Template:
    """Cells that differ only in their seed: what one added seed of a row costs and how many it has."""

    seconds_per_seed: float
    seeds: int


@dataclass
class RowView:
    """A design row as the engine sees it: its claim (the Holm family), kind, values and cells."""

    row_id: str
    family: str
    sample: RowSample
    templates: dict[str, Template] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.sample.kind


class Source(Protocol):
    def rows(self) -> list[RowView]: ...


class Runner(Protocol):
    def run(self, targets: dict[str, int], rows: dict[str, RowView]) -> float:
        """Give every template of each target row at least that many seeds; return core-seconds spent."""
        ...


@dataclass
class Summary:
    verdicts: dict[str, Decision]
    rounds: int
    spent: float
    budget_left: float


class Engine:
    """``tests``: how a row's looks become p-values (sequential; a simulation may pass naive re-testing
    to show what the design prevents)."""

    def __init__(
        self,
        design: Design,
        ledger: Ledger,
        source: Source,
        runner: Runner,
        budget: float = math.inf,
        tests: Callable[..., Any] = SequentialTests,
    ):
        self.design, self.ledger, self.source, self.runner = design, ledger, source, runner
        self.budget = budget  # core-seconds for all rounds of this design
        self.settings = design.settings
        self.tests = tests
        self._tests: dict[tuple[str, int], Any] = {}  # looks are append-only: one tests object per look count

    def run(self, max_rounds: int = 1000) -> Summary:
        """Rounds until every row is decided, at its last look, or out of budget."""
        for _ in range(max_rounds):
            pending = self.ledger.open_round()
            if pending is not None:  # a killed run: the same round again (finished cells are cached)
                self._run_round(pending)
                continue
            rows = self._rows()
            self.catch_up(rows)
            verdicts = self.decisions(rows)
            targets, estimate = self.choose(rows, verdicts)
            if not targets:
                return Summary(verdicts, len(self.ledger.rounds), self.ledger.spent(), self.budget_left())
            self._run_round(self.ledger.plan_round(targets, estimate))
        raise RuntimeError(f"--decide did not finish in {max_rounds} rounds")

    def budget_left(self) -> float:
        return self.budget - self.ledger.spent()

    def _rows(self) -> list[RowView]:
        return [r for r in self.source.rows() if r.row_id in self.design.rows]

    def _run_round(self, rnd: Round) -> None:
        rows = {r.row_id: r for r in self._rows()}
        spent = self.runner.run(rnd.targets, rows)
        self.ledger.finish_round(rnd, spent)
        current = self._rows()
        if self.take_looks(current, rnd):
            self.freeze(current)
        self.catch_up(current)

    def catch_up(self, rows: list[RowView]) -> None:
        """Take every look already due, a pass at a time, freezing the verdicts of each pass before
        the next (a row decided in one pass takes no later look)."""
        self.freeze(rows)  # a run killed between a look and its verdict: the verdict first
        while self.take_looks(rows):
            self.freeze(rows)

    def take_looks(self, rows: Iterable[RowView], finished: Round | None = None) -> int:
        """Record every look that is due (returns how many): at the next scheduled seed count once the
        row has that many seeds, or at the target of the round just finished (fewer seeds when cells
        failed). A row whose verdict is frozen takes no more looks."""
        taken = 0
        for row in rows:
            rid = row.row_id
            if rid in self.ledger.verdicts:
                continue
            last = self.ledger.last_n(rid)
            nxt = self.design.rows[rid].next_look(last)
            due = nxt if nxt is not None and row.sample.n >= nxt else 0
            if finished is not None and rid in finished.targets:
                due = max(due, min(row.sample.n, finished.targets[rid]))
            if due > last:
                seen = row.sample.first(due)
                if seen.n >= 2:
                    self.ledger.add_look(rid, seen.n, seen.mean, seen.sd)
                    taken += 1
        return taken

    def freeze(self, rows: list[RowView]) -> None:
        """Write the verdict of every row that is decided now and was not before, at its last look."""
        for rid, d in self.decisions(rows).items():
            if d.decided and rid not in self.ledger.verdicts:
                last = self.ledger.looks[rid][-1]
                self.ledger.freeze(rid, d.frozen(last.look, last.n))

    def decisions(self, rows: list[RowView]) -> dict[str, Decision]:
        """Verdicts from the looks taken so far: frozen rows as frozen, the open rows by the step-down
        over each claim's rows (rows without a look yet read inconclusive)."""
        looks = self.ledger.row_looks(self.design)
        families: dict[str, list[RowView]] = {}
        for r in rows:
            if looks.get(r.row_id) and looks[r.row_id].looks:
                families.setdefault(r.family, []).append(r)
        out: dict[str, Decision] = {}
        for members in families.values():
            inputs = [RowInput(r.kind, self._row_tests(r, looks[r.row_id])) for r in members]
            verdicts = self.ledger.verdicts
            frozen = {i: verdicts[r.row_id] for i, r in enumerate(members) if r.row_id in verdicts}
            out.update(zip((r.row_id for r in members), decide(inputs, frozen, with_p=False)))
        return out

    def _row_tests(self, row: RowView, lk: Any) -> Any:
        key = (row.row_id, len(lk.looks))
        if key not in self._tests:
            self._tests[key] = self.tests(row.sample, lk.looks, lk.n_max, lk.spending, lk.schedule)
        return self._tests[key]

    def choose(self, rows: list[RowView], verdicts: dict[str, Decision]) -> tuple[dict[str, int], float]:
        """The next round: undecided rows by chance of a decision per core-second, while the budget lasts."""
        scored = []
        for row in rows:
            if verdicts.get(row.row_id, Decision(INCONCLUSIVE)).verdict != INCONCLUSIVE:
                continue
            last = self.ledger.last_n(row.row_id)
            nxt = self.design.rows[row.row_id].next_look(last)
            if nxt is None or last < 2:
                continue
            cost = _cost(row, nxt, {})
            chance = self.chance_of_decision(row, nxt)
            scored.append((-(chance / cost) if cost > 0 else -math.inf, row.row_id, row, nxt))
        targets: dict[str, int] = {}
        planned: dict[str, int] = {}
        total, left = 0.0, self.budget_left()
        for _, _, row, nxt in sorted(scored, key=lambda x: (x[0], x[1])):
            cost = _cost(row, nxt, planned)
            if total + cost > left:
                continue
            total += cost
            targets[row.row_id] = nxt
            for tid in row.templates:
                planned[tid] = max(planned.get(tid, 0), nxt)
        return targets, total

    def chance_of_decision(self, row: RowView, n_next: int) -> float:
        """Chance that the look at ``n_next`` seeds crosses a boundary, if the true mean and sd are the
        current estimates (plug-in predictive, on the t scale at the row's most lenient level, 0.025;
        it ranks rows and decides nothing)."""
        s = row.sample
        looks = self.ledger.looks.get(row.row_id, [])
        taken = [lk.n for lk in looks]
        if s.n < 2 or math.isnan(s.sd) or (taken and n_next <= taken[-1]):
            return 0.0
        schedule = self.design.rows[row.row_id].schedule
        following = table(sequence([*taken, n_next], schedule), self.settings.max_seeds, self.settings.spending)
        c = following.at(ONE_SIDED)[len(taken)]
        spread = math.sqrt(max(n_next - s.n, 0) / n_next)
        chances = {}
        for test in s.tests():
            t = s.t_stat(test, n=n_next)
            chances[test.name] = float(special.ndtr((t - c) / spread)) if spread > 0 else float(t >= c)
        if s.kind == "equivalence":
            total = min(chances["lo"], chances["hi"]) + chances["out_hi"] + chances["out_lo"]
        else:
            total = sum(chances.values())
        return min(1.0, total)


def _cost(row: RowView, n_next: int, planned: dict[str, int]) -> float:
    """Core-seconds to give every template of ``row`` ``n_next`` seeds, given what is already planned."""
    return sum(
        max(0, n_next - max(t.seeds, planned.get(tid, 0))) * t.seconds_per_seed for tid, t in row.templates.items()
    )
