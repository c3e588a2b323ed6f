"""Executors run groups of cells (``harness.engine.groups``; a lone cell is a group of one) and make
sure each cell ends as a stored record, whatever happens to it.

- ``inline``: in this process, one after another (tests, debugging; a timeout cannot be enforced).
- ``local``: ``jobs`` long-lived worker subprocesses (``harness.engine.worker_process``), each running
  groups one after another. A worker that dies is replaced and only its current cell is recorded, never retried: ``oom``
  when SIGKILL ended it (the kernel's out-of-memory killer sends SIGKILL), ``error`` with the cause
  otherwise (segfault, exit); a cell past ``timeout`` has its worker killed and is recorded as
  ``timeout``. A cell starts only when its declared memory fits (``harness.engine.memory.MemoryGate``);
  one larger than the machine is recorded ``oom`` without starting. On a GPU run each worker sees
  one GPU (``CUDA_VISIBLE_DEVICES``, round-robin) and a cell also waits until its declared GPU memory
  fits on that GPU (``harness.engine.gpus``). Workers live in their own session, so Ctrl-C reaches only the
  driver.
- ``ray``: see harness/engine/ray_executor.py (optional extra); harness/engine/executor_factory.py picks one by name.

A group is admitted by its whole declared memory and runs in one worker; its members' records are
written as they finish. A group that runs out of memory (an out-of-memory error raised in the
worker, or the worker SIGKILLed as the out-of-memory killer does) is split in halves and the halves
run again, down to single cells; members recorded before the kill stay. ``--timeout`` is per cell, so
a group of K cells may run K times as long before its unfinished members are recorded ``timeout``.
With claims (``harness.engine.claim_files``), a group is claimed just before it starts; cells another
live run holds are left to it (``elsewhere``) and cells it finished meanwhile are reported, not run.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.engine import memory as mem
from harness.engine.cell import Cell
from harness.engine.gpus import GpuGates, cell_need, visible_gpus
from harness.engine.groups import Group, as_groups, split, subgroup
from harness.engine.memory import MemoryGate, resident_memory, too_big
from harness.engine.runner import base_record, run_unit
from harness.engine.store import Store
from harness.engine.worker_process import WorkerProcess
from harness.errors import HarnessError

Callback = Callable[[Cell, dict[str, Any]], None]  # called once per cell, with its record or a summary
StartCallback = Callable[[Cell], None]
WORKER_START_TIMEOUT = 180.0


class Executor:
    """Runs cells; calls ``on_start(cell)`` and ``on_done(cell, summary)`` as they go."""

    def __init__(
        self,
        store: Store,
        device: str = "cpu",
        jobs: int = 1,
        timeout: float | None = None,
        threads: int | None = None,
        memory: dict[str, int] | None = None,
        gpu_memory: dict[str, int] | None = None,
    ):
        self.store = store
        self.device = device
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.memory = memory or {}  # run key -> bytes the cell declares (Track.memory)
        self.gpu_memory = gpu_memory or {}  # run key -> GPU bytes the cell declares (Track.gpu_memory)
        self.claims: Any = None  # ClaimFiles of this run, set by harness.engine.batch (None: claim nothing)
        self.elsewhere: list[Cell] = []  # cells held by another live run, left to it
        self._started: set[str] = set()

    def groups(self, items: list[Cell] | list[Group]) -> list[Group]:
        return as_groups(items, self.memory, self.gpu_memory)

    def _start(self, cells: tuple[Cell, ...] | list[Cell], on_start: StartCallback) -> None:
        """``on_start`` once per cell, however often its group is split and run again."""
        for cell in cells:
            if cell.key not in self._started:
                self._started.add(cell.key)
                on_start(cell)

    def _record(self, cell: Cell, rec: dict[str, Any], on_start: StartCallback, on_done: Callback) -> None:
        """Store a record the executor made itself (a refused, killed or timed-out cell)."""
        self._start([cell], on_start)
        self.store.write(rec)
        on_done(cell, rec)

    def _claim(self, group: Group, on_start: StartCallback, on_done: Callback) -> Group | None:
        """The part of ``group`` this run now holds (None: nothing left to run here)."""
        if self.claims is None:
            return group
        mine, others, done = self.claims.take(group.cells, self.store)
        self.elsewhere += others
        for cell in done:  # finished by another run since this one planned: report, do not run
            self._start([cell], on_start)
            on_done(cell, {**(self.store.read(cell.track, cell.key) or {}), "elsewhere": True})
        if not mine:
            return None
        return group if len(mine) == group.size else subgroup(group, mine, self.memory, self.gpu_memory)

    def _refuse(self, group: Group, reason: str, on_start: StartCallback, on_done: Callback) -> list[Group]:
        """A group whose memory never fits: its halves to run instead, or a lone cell recorded ``oom``."""
        if group.size > 1:
            return split(group, self.memory, self.gpu_memory)
        cell = group.cells[0]
        self._record(cell, base_record(cell, "oom", error=f"not started: {reason}"), on_start, on_done)
        return []

    def run(self, cells: list[Cell] | list[Group], on_start: StartCallback, on_done: Callback) -> None:
        raise NotImplementedError


class InlineExecutor(Executor):
    def run(self, cells: list[Cell] | list[Group], on_start: StartCallback, on_done: Callback) -> None:
        total = mem.total_memory()
        todo = self.groups(cells)
        while todo:
            group = self._claim(todo.pop(0), on_start, on_done)
            if group is None:
                continue
            reason = too_big(group.memory, total)
            if reason:
                todo[:0] = self._refuse(group, reason, on_start, on_done)
                continue
            self._start(group.cells, on_start)
            by_key = {c.key: c for c in group.cells}
            for rec in run_unit(group, device=self.device, threads=self.threads):
                self.store.write(rec)
                on_done(by_key[rec["key"]], rec)


class LocalExecutor(Executor):
    def run(self, cells: list[Cell] | list[Group], on_start: StartCallback, on_done: Callback) -> None:
        groups = self.groups(cells)
        todo: queue.Queue[Group] = queue.Queue()
        for g in groups:
            todo.put(g)
        log_dir = self.store.root / ".logs"
        errors: list[BaseException] = []
        stop = threading.Event()
        live: dict[int, WorkerProcess] = {}
        gate = MemoryGate()
        gpus = GpuGates(visible_gpus(self.device)) if self.device.startswith("cuda") else None

        def slot_loop(slot: int) -> None:
            worker: WorkerProcess | None = None
            gpu = gpus.gpu_of_slot(slot) if gpus else None

            def resident() -> int:
                return resident_memory(worker.proc.pid) if worker is not None else 0

            def gpu_resident() -> int:
                return gpus.process_memory(worker.proc.pid) if gpus and worker is not None else 0

            try:
                while not stop.is_set():
                    try:
                        group = self._claim(todo.get_nowait(), on_start, on_done)
                    except queue.Empty:
                        break
                    if group is None:
                        continue
                    ticket = gate.acquire(group.memory, resident, stop)
                    if ticket is None:
                        break
                    if isinstance(ticket, str):
                        for half in self._refuse(group, ticket, on_start, on_done):
                            todo.put(half)
                        continue
                    gpu_gate, gpu_ticket = None, None
                    try:
                        need = cell_need(group.gpu_memory) if gpu else 0
                        if gpus and gpu and need:
                            gpu_gate = gpus.gates[gpu.index]
                            gpu_ticket = gpu_gate.acquire(need, gpu_resident, stop)
                            if gpu_ticket is None:
                                break
                            if isinstance(gpu_ticket, str):
                                reason = f"on cuda:{gpu.index}, {gpu_ticket}"
                                for half in self._refuse(group, reason, on_start, on_done):
                                    todo.put(half)
                                continue
                        if worker is None:
                            worker = self._start_worker(slot, log_dir, gpu.visible_id if gpu else None)
                            live[slot] = worker
                        worker, halves = self._run_one(worker, group, on_start, on_done)
                        for half in halves:
                            todo.put(half)
                    finally:
                        if gpu_gate is not None and isinstance(gpu_ticket, int):
                            gpu_gate.release(gpu_ticket)
                        gate.release(ticket)
            except BaseException as exc:  # surfaced by the driver after the other slots stop
                errors.append(exc)
                stop.set()
            finally:
                if worker is not None:
                    if stop.is_set():
                        worker.kill()
                    else:
                        worker.close()

        threads = [
            threading.Thread(target=slot_loop, args=(i,), daemon=True) for i in range(min(self.jobs, len(groups)))
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.2)
        except KeyboardInterrupt:
            stop.set()
            for w in list(live.values()):
                w.kill()
            raise
        if errors:
            raise errors[0]

    def _run_one(
        self, worker: WorkerProcess, group: Group, on_start: StartCallback, on_done: Callback
    ) -> tuple[WorkerProcess | None, list[Group]]:
        """Run ``group`` on ``worker``, passing each member's reply on as it comes. Returns the worker
        (None when it had to be killed or died) and the halves to run when a SIGKILL (the
        out-of-memory killer) ended a group with two or more members unfinished."""
        self._start(group.cells, on_start)
        if self.claims is not None and self.timeout:  # its claims expire with its timeout, counted from now
            self.claims.renew(group.cells)
        pending = {c.key: c for c in group.cells}
        deadline = time.monotonic() + self.timeout * group.size if self.timeout else None
        ok = worker.send(group.to_message())
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            reply = worker.wait_reply(left) if ok else None
            if not isinstance(reply, dict) or reply.get("done"):
                break
            cell = pending.pop(reply.get("key", ""), None)
            if cell is not None:
                on_done(cell, reply)
        rest = [c for c in group.cells if c.key in pending]
        if isinstance(reply, dict):  # done: a member without a reply is the worker's bug, said so
            for cell in rest:
                error = "the worker finished its group without a record for this cell"
                self._record(cell, base_record(cell, "error", error=error), on_start, on_done)
            return worker, []
        if reply == "timeout":
            worker.kill()
            limit = f"--timeout {self.timeout:g}s" + (f" x {group.size} cells" if group.size > 1 else "")
            error = f"{'cell' if group.size == 1 else 'group'} exceeded {limit} and was stopped"
            for cell in rest:
                self._record(cell, base_record(cell, "timeout", error=error), on_start, on_done)
            return None, []
        status, cause = worker.death()
        worker.kill()
        if status == "oom" and len(rest) > 1:
            return None, split(subgroup(group, rest, self.memory, self.gpu_memory), self.memory, self.gpu_memory)
        for cell in rest:
            self._record(cell, base_record(cell, status, error=cause), on_start, on_done)
        return None, []

    def _start_worker(self, slot: int, log_dir: Path, visible_gpu: str | None = None) -> WorkerProcess:
        worker = WorkerProcess(slot, self.device, self.threads, self.store.root, log_dir, visible_gpu)
        reply = worker.wait_reply(WORKER_START_TIMEOUT)
        if not isinstance(reply, dict) or not reply.get("ready"):
            cause = worker.death()[1] if reply is None else "worker did not start in time"
            worker.kill()
            raise HarnessError(f"could not start a worker process: {cause}")
        return worker
