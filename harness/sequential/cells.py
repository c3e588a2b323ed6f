"""The cells behind a claim row: which cells differ only in their seed, and what one more seed costs.

Why from the stored records: a row knows the run keys of its cells (``RowSample.keys``); the
records hold each cell's full definition and its measured wall time and threads, so planning and
``--decide`` price an added seed from what the same cells cost, and build the new cells by
changing only the seed (same settings, parameters and versions: the pairing over seeds holds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.engine.cell import Cell, canonical_json
from harness.engine.store import FINISHED, Store
from harness.sequential.engine import Template


def template_id(cell: dict[str, Any]) -> str:
    """The identity of a cell without its seed."""
    ident = {k: v for k, v in cell.items() if k not in ("seed", "method_label", "dataset_label")}
    return hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:16]


def core_seconds(rec: dict[str, Any]) -> float:
    """What a finished cell cost: its wall seconds times the torch threads it ran with."""
    threads = (rec.get("provenance") or {}).get("threads") or 1
    return float(rec.get("wall_seconds") or 0.0) * float(threads)


@dataclass
class CellIndex:
    """Every stored record by run key, grouped into templates (cells equal but for the seed)."""

    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    template_of: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def read(cls, results: str | Path) -> CellIndex:
        idx = cls()
        for rec in Store(results).records(warn=False):
            key, tid = rec["key"], template_id(rec["cell"])
            idx.by_key[key] = rec
            idx.template_of[key] = tid
            idx.members.setdefault(tid, []).append(rec)
        return idx

    def templates(self, keys: Iterable[str]) -> dict[str, Template]:
        """The templates of ``keys``: mean core-seconds of their finished cells per seed, and how many
        distinct seeds they have finished."""
        return {tid: self.template(tid) for tid in sorted({self.template_of[k] for k in keys if k in self.template_of})}

    def template(self, tid: str) -> Template:
        done = [r for r in self.members[tid] if r["status"] in FINISHED]
        secs = [core_seconds(r) for r in done] or [core_seconds(r) for r in self.members[tid]]
        return Template(sum(secs) / len(secs) if secs else 0.0, len({r["cell"]["seed"] for r in done}))

    def cells_for(self, tid: str, seeds: int) -> list[Cell]:
        """The template's cells for seeds 0 .. seeds-1 (existing ones included: the planner skips them)."""
        base = dict(self.members[tid][0]["cell"])
        return [Cell.from_dict({**base, "seed": s}) for s in range(seeds)]
