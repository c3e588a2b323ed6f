"""What reports, ``publish``, ``plan`` and ``--decide`` read of a results directory's design.

Why one reader: the claims of a results directory with a ``--decide`` design are read the same way
everywhere: registered rows at their looks with the verdicts the ledger froze, unregistered seed
rows of its tracks as exploratory, and a design written under an older boundary method (no frozen
verdicts, z boundaries mapped through t) re-read under the exact t boundaries by replaying its looks
in the order they were taken (labelled so in every such row).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.claims.reading import DesignReading
from harness.sequential import design as designs
from harness.sequential.ledger import FileLedger
from harness.sequential.t_boundaries import METHOD


def design_reading(results: str | Path) -> DesignReading | None:
    """The reading of ``results``' design (None when it has none)."""
    design = designs.load(results)
    if design is None:
        return None
    rows = FileLedger(results).row_looks(design)
    note = ""
    if design.method != METHOD:
        rows = {rid: replace(lk, replay=True, frozen=None) for rid, lk in rows.items()}
        note = (
            f"re-read: the design was written under the boundary method {design.method!r}; its looks are read "
            f"here against exact t-scale boundaries ({METHOD}), verdicts frozen at the first look that decides"
        )
    return DesignReading(rows, frozenset(r.track for r in design.rows.values()), note)
