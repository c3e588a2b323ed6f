"""Memory as a limit: what the machine has, what is free, and a gate that starts a cell only when its
declared memory (``Track.memory``) fits.

Why: a cell that does not fit is killed by the kernel's out-of-memory killer mid-run (minutes
lost, and the other cells at risk); waiting until it fits costs nothing. What is free is
``MemAvailable`` (``/proc/meminfo``, capped by a cgroup limit) minus what running cells declared
but do not use yet (declared minus their worker's resident memory): a running cell's own usage is
already out of ``MemAvailable`` and is not counted twice.

Off Linux (no ``/proc/meminfo``) nothing is known and nothing waits.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

GIB = 1024**3
NO_LIMIT = 1 << 60  # cgroup "max" values above this mean "no limit"
ALONE_WAIT_S = 300.0  # a cell that does not fit even with no other cell running waits this long, then is refused
POLL_S = 0.5


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= 0.1 * GIB else f"{n / 1024**2:.0f} MiB"


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except OSError:
        pass
    return out


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_limit_and_usage() -> tuple[int | None, int | None]:
    """This process's cgroup memory limit and usage (v2, else v1), None when unlimited/unknown."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = _read_int(limit_file)
        if limit is not None and limit < NO_LIMIT:
            return limit, _read_int(usage_file)
    return None, None


def total_memory() -> int | None:
    """The machine's memory for our cells: MemTotal, or the cgroup limit when lower."""
    total = _meminfo().get("MemTotal")
    limit, _ = _cgroup_limit_and_usage()
    if limit is not None:
        total = min(total, limit) if total else limit
    return total


def available_memory() -> int | None:
    """Memory a new process can take now without swapping: MemAvailable (cgroup headroom if lower)."""
    avail = _meminfo().get("MemAvailable")
    limit, usage = _cgroup_limit_and_usage()
    if limit is not None and usage is not None:
        avail = min(avail, limit - usage) if avail is not None else limit - usage
    return avail


def resident_memory(pid: int) -> int:
    """Resident memory of process ``pid`` in bytes (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def too_big(need: int, total: int | None) -> str:
    """Why a cell declaring ``need`` bytes can never run on a machine with ``total`` ('' if it can)."""
    if total is not None and need > total:
        return f"declares {fmt_bytes(need)} of memory, more than this machine's {fmt_bytes(total)}"
    return ""


class MemoryGate:
    """Admits cells in arrival order when their declared memory fits in what is free.

    ``acquire`` blocks; it returns a ticket to ``release`` when the cell ends, or a reason string
    when the cell must not start at all (larger than the machine, or not fitting for
    ``alone_wait`` seconds while no other cell of ours ran).
    """

    def __init__(
        self,
        available: Callable[[], int | None] | None = None,
        total: int | None = None,
        alone_wait: float | None = None,
    ):
        self.available = available or (lambda: available_memory())
        self.total = total_memory() if total is None else total
        self.alone_wait = ALONE_WAIT_S if alone_wait is None else alone_wait
        self.cond = threading.Condition()
        self.queue: deque[int] = deque()
        self.running: dict[int, tuple[int, Callable[[], int]]] = {}  # ticket -> (declared, resident())
        self._next = 0

    def free(self) -> int | None:
        avail = self.available()
        if avail is None:
            return None
        unused = sum(max(0, need - resident()) for need, resident in self.running.values())
        return avail - unused

    def acquire(
        self, need: int, resident: Callable[[], int] = lambda: 0, stop: threading.Event | None = None
    ) -> int | str | None:
        """Wait until ``need`` bytes fit; a ticket, a refusal reason, or None when ``stop`` was set."""
        reason = too_big(need, self.total)
        if reason:
            return reason
        with self.cond:
            ticket, self._next = self._next, self._next + 1
            self.queue.append(ticket)
            alone_since: float | None = None
            try:
                while True:
                    if stop is not None and stop.is_set():
                        return None
                    if self.queue[0] == ticket:
                        free = self.free()
                        if need <= 0 or free is None or need <= free:
                            self.running[ticket] = (need, resident)
                            return ticket
                        if self.running:
                            alone_since = None
                        else:
                            alone_since = alone_since or time.monotonic()
                            if time.monotonic() - alone_since >= self.alone_wait:
                                return (
                                    f"declares {fmt_bytes(need)} of memory but only {fmt_bytes(max(0, free))} "
                                    f"was free for {self.alone_wait:g} s with no other cell running"
                                )
                    self.cond.wait(POLL_S)
            finally:
                self.queue.remove(ticket)
                self.cond.notify_all()

    def release(self, ticket: int) -> None:
        with self.cond:
            self.running.pop(ticket, None)
            self.cond.notify_all()
