"""What a ``--decide`` run has done: the looks taken at each row, the verdicts frozen at the look
where each row stopped, and the rounds of added seeds.

Why a ledger: a verdict of a sequential design depends on every look taken, not only on the data
at the end, a killed run must resume at the same look, and a row's verdict, once it stopped, is
never recomputed (rule.py): the ledger is where it is kept. ``Ledger`` keeps it in memory (the
simulations); ``FileLedger`` appends each entry to ``<results>/.decide/*.jsonl`` with an fsync
before the run goes on, so nothing a look saw is lost and a planned round is re-run, not re-planned.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.claims.row_tests import Frozen, Look, RowLooks
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
    verdicts: dict[str, Frozen] = field(default_factory=dict)

    def add_look(self, row_id: str, n: int, mean: float, sd: float) -> Look:
        order = sum(len(v) for v in self.looks.values())
        look = Look(len(self.looks.get(row_id, [])) + 1, n, mean, sd, order)
        self.looks.setdefault(row_id, []).append(look)
        self._saved_look(row_id, look)
        return look

    def last_n(self, row_id: str) -> int:
        looks = self.looks.get(row_id)
        return looks[-1].n if looks else 0

    def freeze(self, row_id: str, frozen: Frozen) -> None:
        """Keep a row's verdict at the look where it stopped (once: a frozen verdict never changes)."""
        if row_id in self.verdicts:
            raise ValueError(f"row {row_id} has a frozen verdict already")
        self.verdicts[row_id] = frozen
        self._saved_verdict(row_id, frozen)

    def row_looks(self, design: Design) -> dict[str, RowLooks]:
        """The looks of every design row, with its schedule and frozen verdict, as the claims' rule reads them."""
        s = design.settings
        return {
            rid: RowLooks(s.max_seeds, list(lk), s.spending, list(design.rows[rid].schedule), self.verdicts.get(rid))
            for rid, lk in self.looks.items()
            if rid in design.rows
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

    def _saved_verdict(self, row_id: str, frozen: Frozen) -> None:
        pass


class FileLedger(Ledger):
    """A ledger persisted as append-only JSON lines in ``<results>/.decide/``."""

    def __init__(self, results: str | Path):
        super().__init__()
        self.folder = Path(results) / FOLDER
        self.looks_file, self.rounds_file = self.folder / "looks.jsonl", self.folder / "rounds.jsonl"
        self.verdicts_file = self.folder / "verdicts.jsonl"
        for order, entry in enumerate(_read_lines(self.looks_file)):
            look = Look(entry["look"], entry["n"], entry["mean"], entry["sd"], order)
            self.looks.setdefault(entry["row"], []).append(look)
        for entry in _read_lines(self.verdicts_file):
            row = entry.pop("row")
            self.verdicts.setdefault(row, Frozen(**entry))
        by_number: dict[int, Round] = {}
        for entry in _read_lines(self.rounds_file):  # a round's later line (done) replaces its planned line
            by_number[entry["number"]] = Round(**entry)
        self.rounds = [by_number[k] for k in sorted(by_number)]

    def _saved_look(self, row_id: str, look: Look) -> None:
        _append(self.looks_file, {"row": row_id, **asdict(look)})

    def _saved_round(self, rnd: Round) -> None:
        _append(self.rounds_file, asdict(rnd))

    def _saved_verdict(self, row_id: str, frozen: Frozen) -> None:
        _append(self.verdicts_file, {"row": row_id, **asdict(frozen)})


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
