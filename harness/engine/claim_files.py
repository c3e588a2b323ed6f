"""Two runs, one results folder: a cell is claimed before it starts, so no cell is computed twice.

Why: two ``harness run`` on one folder (two terminals, a second ``--decide``, a cluster job and a
laptop) used to compute every cell twice; atomic writes kept the files whole but the work was lost.
Now each run claims a cell (or a group's cells) before starting it with a file
``<results>/.claims/<track>/<run key>.json`` created with ``O_CREAT | O_EXCL`` (exactly one creator
wins) naming the host, the process id (and its start time, so a reused pid is not taken for the
run), the run, when it started and when the claim expires (the cell's ``--timeout`` times the size
of its group, plus a start-up grace; never without a timeout). A run that finds a cell claimed:

- takes the claim over when it is stale: its process is gone (same host, pid not alive, or alive but
  started at another time), it expired, or its holder stopped renewing it (``HEARTBEAT_STALE_S``:
  a holder touches its claims every ``HEARTBEAT_S``, so a dead run on another host is noticed too);
- otherwise leaves the cell to its holder, and once its own cells are done, waits for those (saying
  so) and reports them as computed by the other run.

A claim is removed when the cell's record is written (``release``), and every claim a run still
holds when it ends (an error, Ctrl-C) is removed then. Claims of a run killed outright stay, and are
stale for the next run. A cell whose record was written after this run's process started, found right
after claiming it, is not run again (another run finished it between our plan and our claim).
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.engine.cell import Cell

CLAIMS_DIR = ".claims"
START_GRACE_S = 120.0  # worker start-up (imports) before a claimed cell's own timeout starts counting
HEARTBEAT_S = 30.0
HEARTBEAT_STALE_S = 600.0
WRITING_S = 10.0  # a claim file still empty this young is being written, not torn


def _proc_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot ('' when unknown): a pid is reused,
    a (pid, start time) pair is not."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _process_started() -> float:
    """When this process started (seconds since the epoch; now when unknown): a record written since
    was not there when this run planned its cells."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime"))
        return boot + float(_proc_start(os.getpid())) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return time.time()


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        pass
    return not start or _proc_start(pid) in ("", start)


class ClaimFiles:
    """The claims this run holds in one results folder; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str], timeout: float | None = None):
        self.root = Path(root)
        self.dir = self.root / CLAIMS_DIR
        self.timeout = timeout  # the run's per-cell --timeout (None: claims never expire by age)
        self.since = _process_started()  # before this run read the store to plan
        self.me = {
            "host": platform.node(),
            "pid": os.getpid(),
            "pid_start": _proc_start(os.getpid()),
            "run": uuid.uuid4().hex,
        }
        self.held: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def path(self, cell: Cell) -> Path:
        return self.dir / cell.track / f"{cell.key}.json"

    # --- taking and giving back ---------------------------------------------------------------
    def take(self, cells: list[Cell] | tuple[Cell, ...], store: Any) -> tuple[list[Cell], list[Cell], list[Cell]]:
        """Claim ``cells`` (a group's, whose claims expire together): (claimed by this run, held by a
        live other run, recorded by another run since this process started: nothing left to do)."""
        mine, others, done = [], [], []
        expires = self._expiry(len(cells))
        for cell in cells:
            if (cell.track, cell.key) in self.held:
                mine.append(cell)
            elif not self._create(cell, expires) and not self._take_over(cell, expires):
                others.append(cell)
            elif self.recorded_since(store, cell):
                self.release(cell)
                done.append(cell)
            else:
                mine.append(cell)
        self._start_heartbeat()
        return mine, others, done

    def _expiry(self, size: int) -> float | None:
        return None if not self.timeout else time.time() + self.timeout * size + START_GRACE_S

    def renew(self, cells: list[Cell] | tuple[Cell, ...]) -> None:
        """Restart the clock of claims this run holds (a Ray task that waited in the queue has now started)."""
        expires = self._expiry(len(cells))
        for cell in cells:
            if (cell.track, cell.key) in self.held:
                tmp = self.path(cell).with_suffix(f".{self.me['run']}.tmp")
                tmp.write_text(self._content(expires), encoding="utf-8")
                os.replace(tmp, self.path(cell))

    def release(self, cell: Cell) -> None:
        """Remove this run's claim of ``cell`` (its record is written, or this run gives it up)."""
        with self._lock:
            if (cell.track, cell.key) not in self.held:
                return
            self.held.discard((cell.track, cell.key))
        info = self.read(cell)
        if info is not None and info.get("run") == self.me["run"]:
            self.path(cell).unlink(missing_ok=True)

    def release_all(self, cells: list[Cell]) -> None:
        self._stop.set()
        for cell in cells:
            self.release(cell)

    # --- reading others' claims --------------------------------------------------------------
    def read(self, cell: Cell) -> dict[str, Any] | None:
        """The claim of ``cell`` ({} while being written or torn), None when there is none."""
        try:
            text = self.path(cell).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            info = json.loads(text)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def stale(self, cell: Cell, info: dict[str, Any] | None = None) -> str:
        """Why the claim of ``cell`` is stale ('' while its holder is live or there is no claim)."""
        info = self.read(cell) if info is None else info
        if info is None:
            return ""
        try:
            age = time.time() - self.path(cell).stat().st_mtime
        except OSError:
            return ""
        if not info:
            return "torn claim file" if age > WRITING_S else ""
        if info.get("host") == self.me["host"] and not _alive(int(info.get("pid", 0)), info.get("pid_start", "")):
            return f"process {info.get('pid')} is gone"
        if info.get("expires") and time.time() > float(info["expires"]):
            return "older than its timeout"
        if age > HEARTBEAT_STALE_S:
            return f"not renewed for {age:.0f} s"
        return ""

    @staticmethod
    def holder(info: dict[str, Any] | None) -> str:
        return f"pid {info.get('pid')} on {info.get('host')}" if info else "another run"

    # --- internals ----------------------------------------------------------------------------
    def _content(self, expires: float | None) -> str:
        return json.dumps({**self.me, "started": time.time(), "expires": expires})

    def _create(self, cell: Cell, expires: float | None) -> bool:
        path = self.path(cell)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self._content(expires).encode())
        finally:
            os.close(fd)
        with self._lock:
            self.held.add((cell.track, cell.key))
        return True

    def _take_over(self, cell: Cell, expires: float | None) -> bool:
        """Replace a stale claim by ours; runs taking over at once serialise on a lock file, so only
        the first removes the stale claim and the others find the fresh one live."""
        with self._exclusive():
            if not self.stale(cell):
                return False
            self.path(cell).unlink(missing_ok=True)
            return self._create(cell, expires)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        import fcntl

        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".takeover.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def recorded_since(self, store: Any, cell: Cell) -> bool:
        """Whether ``cell``'s record was written after this process started (by another run)."""
        try:
            return store.path(cell.track, cell.key).stat().st_mtime >= self.since
        except OSError:
            return False

    def _start_heartbeat(self) -> None:
        if self._beat is None and self.held:
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                held = list(self.held)
            for track, key in held:
                try:
                    os.utime(self.dir / track / f"{key}.json")
                except OSError:
                    pass
