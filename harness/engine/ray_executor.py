"""The ``ray`` executor: every cell is a Ray task, on a local Ray or an existing cluster.

Why Ray: per-task CPU/GPU requests, a crashed worker fails only its task, a running task can be
force-cancelled (our per-cell timeout), and ``ray.init(address=...)`` attaches to a cluster.

How a cell travels: the driver submits one task per cell with ``num_cpus`` = the executor's
threads, ``memory`` = the cell's declared memory (Ray schedules by it; a cell larger than every
node is recorded ``oom`` without starting) and, on CUDA, ``num_gpus`` = the cell's share of a GPU
from its declared GPU memory (``Track.gpu_memory`` plus a CUDA context, over the card's memory when
the driver sees a GPU, else one GPU per cell; 0 for a cell its track runs on the CPU). The task is a streaming
generator: it first warms up (imports, registry, torch threads) and yields a "started" marker, so
``--timeout`` counts from the moment the cell really starts, not from submission or worker
start-up; then it yields the record. The driver is the only writer: it stores each record atomically
through the Store as it arrives, so the results directory never needs to be visible from the
cluster's nodes. Tasks are never retried (``max_retries=0``): a cell whose worker died is recorded
``error`` with the cause, not rerun silently.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from harness.engine.cell import Cell
from harness.engine.executors import Callback, Executor, StartCallback
from harness.engine.memory import too_big
from harness.engine.runner import base_record
from harness.engine.store import Store
from harness.errors import HarnessError
from harness.track import DEFAULT_GPU_MEMORY

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install 'kexue-bench[ray]'"
LOCAL_OBJECT_STORE = 128 * 1024**2  # records are a few kB; keep /dev/shm use small on a local Ray
POLL_SECONDS = 0.25


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError(INSTALL_HINT) from None
    return ray


def forwarded_env() -> dict[str, str]:
    """The driver's settings a task needs: plugins, cache dir, extra import paths.

    Passed with every task (not through the worker environment) because a Ray worker may have been
    started before they were set, or on another machine.
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("KEXUE_BENCH_")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def run_cell_task(
    cell_dict: dict[str, Any], device: str, threads: int, env: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """Body of the Ray task: yield a start marker once warm, then the cell's record."""
    for k, v in env.items():
        if k == "PYTHONPATH":
            for p in reversed(v.split(os.pathsep)):
                if p and p not in sys.path:
                    sys.path.insert(0, p)
        else:
            os.environ[k] = v
    from harness.engine.runner import resolve_device, run_cell, set_threads
    from harness.registry import load_builtins

    set_threads(threads)
    load_builtins()
    device = resolve_device(device)
    yield {"started": time.time(), "pid": os.getpid(), "host": os.uname().nodename}
    yield run_cell(Cell.from_dict(cell_dict), device=device, threads=threads)


class RayExecutor(Executor):
    """Runs cells as Ray tasks; see the module docstring."""

    def __init__(
        self,
        store: Store,
        device: str = "cpu",
        jobs: int = 1,
        timeout: float | None = None,
        threads: int | None = None,
        address: str | None = None,
        memory: dict[str, int] | None = None,
        gpu_memory: dict[str, int] | None = None,
    ):
        self.ray = _import_ray()
        super().__init__(
            store, device=device, jobs=jobs, timeout=timeout, threads=threads, memory=memory, gpu_memory=gpu_memory
        )
        self.address = address
        self._on_start: StartCallback = lambda cell: None

    def _connect(self) -> bool:
        """Start or attach to Ray; True when this executor started it (and must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        kw: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if self.address:
            kw["address"] = self.address
        else:
            # a private single-machine Ray for this run; Ray's own token-auth default is kept
            kw.update(num_cpus=os.cpu_count() or 1, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE)
        try:
            ray.init(**kw)
        except Exception as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise HarnessError(f"could not start or reach {where}: {type(exc).__name__}: {exc}") from None
        return True

    def _wants_gpu(self) -> bool:
        if self.device.startswith("cuda"):
            return True
        return self.device == "auto" and self.ray.cluster_resources().get("GPU", 0) > 0

    def run(self, cells: list[Cell], on_start: StartCallback, on_done: Callback) -> None:
        ray = self.ray
        self._on_start = on_start
        owned = self._connect()
        gpu = self._wants_gpu()
        device = "cuda" if gpu else ("cpu" if self.device == "auto" else self.device)
        task = ray.remote(max_retries=0)(run_cell_task)
        resources = {"num_cpus": self.threads, "num_gpus": 0, "name": "kexue-bench-cell"}
        card = _local_gpu_memory() if gpu else 0
        self._warn_if_unschedulable(gpu)
        env = forwarded_env()
        pending: dict[Any, tuple[Cell, dict[str, Any]]] = {}  # generator -> (cell, start info)
        largest = max((n.get("Resources", {}).get("memory", 0) for n in ray.nodes() if n.get("Alive")), default=0)
        try:
            for cell in cells:
                need = self.memory.get(cell.key, 0)
                reason = too_big(need, int(largest) or None)
                if reason:  # Ray would wait forever for a node that large
                    self._record(cell, base_record(cell, "oom", error=f"not started: {reason}"), on_start, on_done)
                    continue
                options = {**resources, "memory": need} if need > 0 else dict(resources)
                if gpu:
                    options["num_gpus"] = gpu_share(self.gpu_memory.get(cell.key, DEFAULT_GPU_MEMORY), card)
                on = device if options["num_gpus"] > 0 else "cpu"  # a CPU cell's task sees no GPU
                gen = task.options(**options).remote(cell.to_dict(), on, self.threads, env)
                pending[gen] = (cell, {})
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                for gen in ready:
                    self._advance(gen, pending, on_start, on_done)
                self._enforce_timeouts(pending, on_done)
        except BaseException:
            for gen in pending:
                ray.cancel(gen, force=True)
            raise
        finally:
            if owned:
                ray.shutdown()

    def _warn_if_unschedulable(self, gpu: bool) -> None:
        """Say so when no live node can hold one cell (Ray would wait forever, or for an autoscaler)."""
        nodes = [n.get("Resources", {}) for n in self.ray.nodes() if n.get("Alive")]
        cpus = max((r.get("CPU", 0) for r in nodes), default=0)
        gpus = max((r.get("GPU", 0) for r in nodes), default=0)
        if cpus < self.threads or (gpu and gpus < 1):
            need = f"{self.threads} CPU(s)" + (" and 1 GPU" if gpu else "")
            print(
                f"warning: each cell asks Ray for {need}, but the largest live node has {cpus:g} CPU(s) and "
                f"{gpus:g} GPU(s); cells wait until such a node joins (raise --jobs to use fewer threads per cell)",
                file=sys.stderr,
            )

    def _advance(
        self, gen: Any, pending: dict[Any, tuple[Cell, dict[str, Any]]], on_start: StartCallback, on_done: Callback
    ) -> None:
        """Take the next item of a ready task: its start marker, its record or its failure."""
        ray = self.ray
        cell, info = pending[gen]
        try:
            item = ray.get(next(gen))
        except StopIteration:
            item = None
        except ray.exceptions.RayError as exc:  # WorkerCrashedError, NodeDiedError, RayTaskError, OOM...
            status = "oom" if isinstance(exc, ray.exceptions.OutOfMemoryError) else "error"
            self._finish(gen, pending, base_record(cell, status, error=_cause(exc, info)), on_done)
            return
        if item is None:
            self._finish(
                gen, pending, base_record(cell, "error", error="Ray task ended without returning a record"), on_done
            )
        elif "started" in item:
            info.update(item, seen=time.time())
            on_start(cell)
        else:
            self._finish(gen, pending, item, on_done)

    def _finish(self, gen: Any, pending: dict[Any, Any], rec: dict[str, Any], on_done: Callback) -> None:
        cell, info = pending.pop(gen)
        if "seen" not in info:  # died before its start marker reached us: keep start/done paired
            self._on_start(cell)
        self.store.write(rec)
        on_done(cell, rec)

    def _enforce_timeouts(self, pending: dict[Any, tuple[Cell, dict[str, Any]]], on_done: Callback) -> None:
        if not self.timeout:
            return
        now = time.time()
        for gen, (cell, info) in list(pending.items()):
            if "seen" in info and now - info["seen"] > self.timeout:
                self.ray.cancel(gen, force=True)
                rec = base_record(cell, "timeout", error=f"cell exceeded --timeout {self.timeout:g}s and was stopped")
                self._finish(gen, pending, rec, on_done)


def gpu_share(declared: int, card: int) -> float:
    """The fraction of one GPU a cell asks Ray for: its declared GPU memory and a CUDA context over the
    card's memory, rounded up to a hundredth; a whole GPU when the card is unknown; 0 for a CPU cell."""
    from harness.engine.gpus import cell_need

    need = cell_need(declared)
    if need <= 0:
        return 0.0
    if card <= 0:
        return 1.0
    return min(1.0, math.ceil(100 * need / card) / 100)


def _local_gpu_memory() -> int:
    """The driver's first GPU's memory (the cluster's GPUs are taken to be alike), 0 when it has none."""
    try:
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory) if torch.cuda.is_available() else 0
    except Exception:
        return 0


def _cause(exc: BaseException, info: dict[str, Any]) -> str:
    """One line: the Ray error's first line plus where the cell was running."""
    text = str(exc).strip().splitlines()
    first = next((t.strip() for t in text if t.strip()), "")
    where = f" (worker pid {info['pid']} on {info['host']})" if "pid" in info else ""
    return f"Ray task failed: {type(exc).__name__}: {first}{where}"
