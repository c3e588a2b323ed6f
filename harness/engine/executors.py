"""Executors run cells and make sure each ends as a stored record, whatever happens to it.

- ``inline``: in this process, one after another (tests, debugging; a timeout cannot be enforced).
- ``local``: ``jobs`` long-lived worker subprocesses, each running cells one after another.
  A worker that dies is replaced and only its current cell is recorded, never retried: ``oom``
  when SIGKILL ended it (the kernel's out-of-memory killer sends SIGKILL), ``error`` with the cause
  otherwise (segfault, exit); a cell past ``timeout`` has its worker killed and is recorded as
  ``timeout``. A cell starts only when its declared memory fits (``harness.engine.memory.MemoryGate``);
  one larger than the machine is recorded ``oom`` without starting. On a GPU run each worker sees
  one GPU (``CUDA_VISIBLE_DEVICES``, round-robin) and a cell also waits until its declared GPU memory
  fits on that GPU (``harness.engine.gpus``). Workers live in their own session, so Ctrl-C reaches only the
  driver.
- ``ray``: see harness/engine/ray_executor.py (optional extra); harness/engine/executor_factory.py picks one by name.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.engine import memory as mem
from harness.engine.cell import Cell
from harness.engine.gpus import GpuGates, cell_need, visible_gpus
from harness.engine.memory import MemoryGate, resident_memory, too_big
from harness.engine.runner import base_record, run_cell
from harness.engine.store import Store
from harness.errors import HarnessError

Callback = Callable[[Cell, dict[str, Any]], None]
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

    def _record(self, cell: Cell, rec: dict[str, Any], on_start: StartCallback | None, on_done: Callback) -> None:
        """Store a record the executor made itself (a refused, killed or timed-out cell)."""
        if on_start is not None:
            on_start(cell)
        self.store.write(rec)
        on_done(cell, rec)

    def run(self, cells: list[Cell], on_start: StartCallback, on_done: Callback) -> None:
        raise NotImplementedError


class InlineExecutor(Executor):
    def run(self, cells: list[Cell], on_start: StartCallback, on_done: Callback) -> None:
        total = mem.total_memory()
        for cell in cells:
            reason = too_big(self.memory.get(cell.key, 0), total)
            if reason:
                self._record(cell, base_record(cell, "oom", error=f"not started: {reason}"), on_start, on_done)
                continue
            on_start(cell)
            rec = run_cell(cell, device=self.device, threads=self.threads)
            self.store.write(rec)
            on_done(cell, rec)


class _Worker:
    """One worker subprocess and a reader thread that turns its protocol lines into a queue."""

    def __init__(
        self, slot: int, device: str, threads: int, results: Path, log_dir: Path, visible_gpu: str | None = None
    ):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"worker-{slot}.log"
        self.log = open(self.log_path, "ab")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
        if visible_gpu is not None:  # the worker sees one GPU, as its cuda:0
            env["CUDA_VISIBLE_DEVICES"] = visible_gpu
            device = "cuda"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.engine.worker",
                "--device",
                device,
                "--threads",
                str(threads),
                "--results",
                str(results),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
            env=env,
            text=True,
            bufsize=1,
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                continue
        self.replies.put(None)  # EOF: the worker is gone

    def wait_reply(self, timeout: float | None) -> dict[str, Any] | None | str:
        """The next reply, None if the worker died, or "timeout"."""
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def send(self, msg: dict[str, Any]) -> bool:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self.log.close()

    def death(self) -> tuple[str, str]:
        """(status, cause) of a worker that died: ``oom`` when SIGKILL ended it, else ``error``."""
        code = self.proc.wait(timeout=10)
        status = "error"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            cause = f"worker process was killed by {name}"
            if -code == signal.SIGKILL:
                status = "oom"
                cause += " (the out-of-memory killer, or killed externally; rerun with --retry-failed)"
        else:
            cause = f"worker process exited with code {code}"
        tail = _tail(self.log_path)
        return status, f"{cause}{': ' + tail if tail else ''}"


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(t.strip() for t in text[-lines:])


class LocalExecutor(Executor):
    def run(self, cells: list[Cell], on_start: StartCallback, on_done: Callback) -> None:
        todo: queue.Queue[Cell] = queue.Queue()
        for c in cells:
            todo.put(c)
        log_dir = self.store.root / ".logs"
        errors: list[BaseException] = []
        stop = threading.Event()
        live: dict[int, _Worker] = {}
        gate = MemoryGate()
        gpus = GpuGates(visible_gpus(self.device)) if self.device.startswith("cuda") else None

        def slot_loop(slot: int) -> None:
            worker: _Worker | None = None
            gpu = gpus.gpu_of_slot(slot) if gpus else None

            def resident() -> int:
                return resident_memory(worker.proc.pid) if worker is not None else 0

            def gpu_resident() -> int:
                return gpus.process_memory(worker.proc.pid) if gpus and worker is not None else 0

            try:
                while not stop.is_set():
                    try:
                        cell = todo.get_nowait()
                    except queue.Empty:
                        break
                    ticket = gate.acquire(self.memory.get(cell.key, 0), resident, stop)
                    if ticket is None:
                        break
                    if isinstance(ticket, str):
                        self._record(cell, base_record(cell, "oom", error=f"not started: {ticket}"), on_start, on_done)
                        continue
                    gpu_gate, gpu_ticket = None, None
                    try:
                        need = cell_need(self.gpu_memory.get(cell.key, 0)) if gpu else 0
                        if gpus and gpu and need:
                            gpu_gate = gpus.gates[gpu.index]
                            gpu_ticket = gpu_gate.acquire(need, gpu_resident, stop)
                            if gpu_ticket is None:
                                break
                            if isinstance(gpu_ticket, str):
                                error = f"not started: on cuda:{gpu.index}, {gpu_ticket}"
                                self._record(cell, base_record(cell, "oom", error=error), on_start, on_done)
                                continue
                        if worker is None:
                            worker = self._start_worker(slot, log_dir, gpu.visible_id if gpu else None)
                            live[slot] = worker
                        worker = self._run_one(worker, cell, on_start, on_done)
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
            threading.Thread(target=slot_loop, args=(i,), daemon=True) for i in range(min(self.jobs, len(cells)))
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

    def _run_one(self, worker: _Worker, cell: Cell, on_start: StartCallback, on_done: Callback) -> _Worker | None:
        """Run ``cell`` on ``worker``; returns the worker, or None when it had to be killed or died."""
        on_start(cell)
        ok = worker.send({"cell": cell.to_dict()})
        reply = worker.wait_reply(self.timeout) if ok else None
        if reply == "timeout":
            worker.kill()
            error = f"cell exceeded --timeout {self.timeout:g}s and was stopped"
            self._record(cell, base_record(cell, "timeout", error=error), None, on_done)
            return None
        if reply is None:
            status, cause = worker.death()
            worker.kill()
            self._record(cell, base_record(cell, status, error=cause), None, on_done)
            return None
        on_done(cell, reply)
        return worker

    def _start_worker(self, slot: int, log_dir: Path, visible_gpu: str | None = None) -> _Worker:
        worker = _Worker(slot, self.device, self.threads, self.store.root, log_dir, visible_gpu)
        reply = worker.wait_reply(WORKER_START_TIMEOUT)
        if not isinstance(reply, dict) or not reply.get("ready"):
            cause = worker.death()[1] if reply is None else "worker did not start in time"
            worker.kill()
            raise HarnessError(f"could not start a worker process: {cause}")
        return worker
