"""Decide which cells of a suite still need running, given what the store already holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.engine.cell import Cell
from harness.engine.store import FAILED, FINISHED, Store


@dataclass
class Plan:
    todo: list[Cell] = field(default_factory=list)
    cached: list[Cell] = field(default_factory=list)  # finished (ok/diverged): skipped
    failed_kept: list[Cell] = field(default_factory=list)  # failed before; rerun only with retry_failed
    status: dict[str, str | None] = field(default_factory=dict)  # run key -> stored status (None: no result)

    @property
    def total(self) -> int:
        return len(self.todo) + len(self.cached) + len(self.failed_kept)


def plan(cells: list[Cell], store: Store, force: bool = False, retry_failed: bool = False) -> Plan:
    """Split cells into todo / cached / failed-and-kept.

    A finished result is reused unless ``force``; a failed one (timeout, oom, error) is never
    treated as a success: it is reported, and rerun when ``retry_failed`` (or ``force``) is set.
    """
    out = Plan()
    for cell in cells:
        status = store.status(cell.track, cell.key)
        out.status[cell.key] = status
        if force:
            status = None
        if status in FINISHED:
            out.cached.append(cell)
        elif status in FAILED and not retry_failed:
            out.failed_kept.append(cell)
        else:
            out.todo.append(cell)
    return out
