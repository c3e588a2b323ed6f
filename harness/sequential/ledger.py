"""What a ``--decide`` run has done: the looks taken at each row and the rounds of added seeds.

Why a ledger: a verdict of a sequential design depends on every look taken, not only on the data
at the end, and a killed run must resume at the same look. ``Ledger`` keeps it in memory (the
simulations); ``FileLedger`` appends each entry to ``<results>/.decide/*.jsonl`` with an fsync
before the run goes on, so nothing a look saw is lost and a planned round is re-run, not re-planned.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.claims.rule import Look, RowLooks
from harness.sequential.design import FOLDER, Design


@dataclass
class Round:
    """Seeds added in one round: each chosen row's target seeds (its next look) and the cost."""

    number: int
    targets: dict[str, int]
    estimate: float  # core-seconds, from the measured times of the cells repeated
    spent: float = 0.0  # core-seconds measured once the round's cells finished
    done: bool = False


@dataclass
class Ledger:
    looks: dict[str, list[Look]] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)

    def add_look(self, row_id: str, n: int, mean: float, sd: float) -> Look:
        look = Look(len(self.looks.get(row_id, [])) + 1, n, mean, sd)
        self.looks.setdefault(row_id, []).append(look)
        self._saved_look(row_id, look)
        return look

    def last_n(self, row_id: str) -> int:
        looks = self.looks.get(row_id)
        return looks[-1].n if looks else 0

    def row_looks(self, design: Design) -> dict[str, RowLooks]:
        """The looks of every design row, as the claims' rule reads them."""
        s = design.settings
        return {
            rid: RowLooks(s.max_seeds, list(lk), s.spending) for rid, lk in self.looks.items() if rid in design.rows
        }

    def open_round(self) -> Round | None:
        """A round planned but not finished (a killed run): it is run again, not re-planned."""
        return self.rounds[-1] if self.rounds and not self.rounds[-1].done else None

    def plan_round(self, targets: dict[str, int], estimate: float) -> Round:
        rnd = Round(len(self.rounds) + 1, dict(targets), estimate)
        self.rounds.append(rnd)
        self._saved_round(rnd)
        return rnd

    def finish_round(self, rnd: Round, spent: float) -> None:
        rnd.spent, rnd.done = spent, True
        self._saved_round(rnd)

    def spent(self) -> float:
        """Core-seconds of every finished round."""
        return sum(r.spent for r in self.rounds if r.done)

    def _saved_look(self, row_id: str, look: Look) -> None:  # the file ledger persists; memory needs nothing
        pass

    def _saved_round(self, rnd: Round) -> None:
        pass


class FileLedger(Ledger):
    """A ledger persisted as append-only JSON lines in ``<results>/.decide/``."""

    def __init__(self, results: str | Path):
        super().__init__()
        self.folder = Path(results) / FOLDER
        self.looks_file, self.rounds_file = self.folder / "looks.jsonl", self.folder / "rounds.jsonl"
        for entry in _read_lines(self.looks_file):
            self.looks.setdefault(entry["row"], []).append(Look(entry["look"], entry["n"], entry["mean"], entry["sd"]))
        by_number: dict[int, Round] = {}
        for entry in _read_lines(self.rounds_file):  # a round's later line (done) replaces its planned line
            by_number[entry["number"]] = Round(**entry)
        self.rounds = [by_number[k] for k in sorted(by_number)]

    def _saved_look(self, row_id: str, look: Look) -> None:
        _append(self.looks_file, {"row": row_id, **asdict(look)})

    def _saved_round(self, rnd: Round) -> None:
        _append(self.rounds_file, asdict(rnd))


def _append(path: Path, entry: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_lines(path: Path) -> list[dict]:
    """Every complete line (a torn last line from a kill mid-write is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
