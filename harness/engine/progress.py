"""Progress of a suite run: cells done / running / failed and an ETA.

A rich live bar on a terminal; one plain line per finished cell otherwise (CI logs, pipes). Cells
count as they finish, one by one, also when they ran in a group, and also when another run on the
same results folder computed them (said so on their line).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from harness.engine.cell import Cell
from harness.engine.store import FAILED


class Progress:
    def __init__(self, total: int, jobs: int, enabled: bool = True, stream: Any = None):
        self.total = total
        self.jobs = max(1, jobs)
        self.done = 0
        self.running = 0
        self.failed: dict[str, int] = {}
        self.diverged = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.started = time.time()
        self.lock = threading.Lock()
        self.live = enabled and self.stream.isatty()
        self._rich: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(
                TextColumn("[bold]cells"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._rich.start()
            self._task = self._rich.add_task("run", total=self.total, info=self._info())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._rich is not None:
            self._rich.stop()

    def _info(self) -> str:
        failed = sum(self.failed.values())
        parts = [f"running {self.running}"]
        if failed:
            parts.append(f"failed {failed}")
        if self.diverged:
            parts.append(f"diverged {self.diverged}")
        return " ".join(parts)

    def eta(self) -> float:
        if self.done == 0:
            return float("nan")
        per = (time.time() - self.started) / self.done
        return per * (self.total - self.done)

    def start(self, cell: Cell) -> None:
        with self.lock:
            self.running += 1
            self._refresh()

    def finish(self, cell: Cell, summary: dict[str, Any]) -> None:
        status = summary.get("status", "error")
        with self.lock:
            self.running = max(0, self.running - 1)
            self.done += 1
            if status in FAILED:
                self.failed[status] = self.failed.get(status, 0) + 1
            elif status == "diverged":
                self.diverged += 1
            if self.live:
                self._refresh(advance=1)
                if status in FAILED:
                    self._rich.console.print(f"[red]{status}[/red] {cell.describe()}: {summary.get('error', '')}")
            elif self.enabled:
                eta = self.eta()
                eta_s = f" ETA {eta:.0f}s" if eta == eta else ""
                err = f": {summary.get('error')}" if status in FAILED or status == "diverged" else ""
                err += " (computed by another run)" if summary.get("elsewhere") else ""
                print(
                    f"[{self.done}/{self.total}] {status:8s} {cell.describe()}{err}{eta_s}",
                    file=self.stream,
                    flush=True,
                )

    def note(self, text: str) -> None:
        """A line about the run itself (e.g. waiting for cells another run is computing)."""
        with self.lock:
            if self.live:
                self._rich.console.print(text)
            elif self.enabled:
                print(text, file=self.stream, flush=True)

    def _refresh(self, advance: int = 0) -> None:
        if self._rich is not None:
            self._rich.update(self._task, advance=advance, info=self._info())
