"""The ``ray`` executor: every group of cells (``harness.engine.groups``; a lone cell is a group of one)
is a Ray task, on a local Ray or an existing cluster.

Why Ray: per-task CPU/GPU requests, a crashed worker fails only its task, a running task can be
force-cancelled (our per-cell timeout), and ``ray.init(address=...)`` attaches to a cluster.

How a group travels: the driver submits one task per group with ``num_cpus`` = the executor's
threads, ``memory`` = the group's declared memory (Ray schedules by it; a group larger than every
node is split, a cell larger than every node is recorded ``oom`` without starting) and, on CUDA,
``num_gpus`` = its share of a GPU from its declared GPU memory (``Track.gpu_memory`` plus a CUDA
context, over the card's memory when the driver sees a GPU, else one GPU per task; 0 for cells their
track runs on the CPU). The task is a streaming generator: it first warms up (imports, registry,
torch threads) and yields a "started" marker, so ``--timeout`` (per cell, times the group's size)
counts from the moment the group really starts, not from submission or worker start-up; then it
yields each member's record as it finishes. The driver is the only writer: it stores each record
atomically through the Store as it arrives, so the results directory never needs to be visible from
the cluster's nodes. Tasks are never retried (``max_retries=0``): a task whose worker died records
its unfinished cells ``error`` with the cause, not rerun silently, except that a group Ray ended for
running out of memory, or whose worker crashed (the kernel's out-of-memory killer looks so), is split
in halves and the halves submitted, down to single cells.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.engine.cell import Cell
from harness.engine.executors import Callback, Executor, StartCallback
from harness.engine.groups import Group, subgroup
from harness.engine.groups import split as split_group
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


def run_group_task(message: dict[str, Any], device: str, threads: int, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Body of the Ray task: yield a start marker once warm, then each member's record as it finishes."""
    for k, v in env.items():
        if k == "PYTHONPATH":
            for p in reversed(v.split(os.pathsep)):
                if p and p not in sys.path:
                    sys.path.insert(0, p)
        else:
            os.environ[k] = v
    from harness.engine.groups import Group
    from harness.engine.runner import resolve_device, run_unit, set_threads
    from harness.registry import load_builtins

    set_threads(threads)
    load_builtins()
    device = resolve_device(device)
    yield {"started": time.time(), "pid": os.getpid(), "host": os.uname().nodename}
    cells = tuple(Cell.from_dict(d) for d in message["cells"])
    yield from run_unit(Group(cells, split_from=message["group"]["split_from"]), device=device, threads=threads)


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

    def run(self, cells: list[Cell] | list[Group], on_start: StartCallback, on_done: Callback) -> None:
        ray = self.ray
        self._on_start, self._on_done = on_start, on_done
        owned = self._connect()
        gpu = self._wants_gpu()
        self._task = ray.remote(max_retries=0)(run_group_task)
        self._card = _local_gpu_memory() if gpu else 0
        self._gpu_device = "cuda" if gpu else ""  # where a task with a GPU share runs ('' : none has one)
        self._warn_if_unschedulable(gpu)
        self._env = forwarded_env()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self._largest = int(max((n.get("Resources", {}).get("memory", 0) for n in nodes), default=0))
        self._pending: dict[Any, _Task] = {}
        try:
            for group in self.groups(cells):
                claimed = self._claim(group, on_start, on_done)
                if claimed is not None:
                    self._submit(claimed)
            while self._pending:
                ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=POLL_SECONDS)
                for gen in ready:
                    self._advance(gen)
                self._enforce_timeouts()
        except BaseException:
            for gen in self._pending:
                ray.cancel(gen, force=True)
            raise
        finally:
            if owned:
                ray.shutdown()

    def _submit(self, group: Group) -> None:
        """One task for ``group``, asking Ray for its memory and GPU share; a group no node can hold is
        split, a cell no node can hold is recorded ``oom`` (Ray would wait forever)."""
        reason = too_big(group.memory, self._largest or None)
        if reason:
            for half in self._refuse(group, reason, self._on_start, self._on_done):
                self._submit(half)
            return
        options: dict[str, Any] = {"num_cpus": self.threads, "num_gpus": 0, "name": "kexue-bench-cell"}
        if group.memory > 0:
            options["memory"] = group.memory
        if self._gpu_device:
            lone_undeclared = group.size == 1 and group.cells[0].key not in self.gpu_memory
            options["num_gpus"] = gpu_share(DEFAULT_GPU_MEMORY if lone_undeclared else group.gpu_memory, self._card)
        on = self._gpu_device if options["num_gpus"] > 0 else "cpu"  # a CPU cell's task sees no GPU
        gen = self._task.options(**options).remote(group.to_message(), on, self.threads, self._env)
        self._pending[gen] = _Task(group, {c.key: c for c in group.cells})

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

    def _advance(self, gen: Any) -> None:
        """Take the next item of a ready task: its start marker, a member's record, its end or its failure."""
        ray = self.ray
        task = self._pending[gen]
        try:
            item = ray.get(next(gen))
        except StopIteration:
            self._end(gen, "error", "Ray task ended without returning a record")
            return
        except ray.exceptions.RayError as exc:  # WorkerCrashedError, NodeDiedError, RayTaskError, OOM...
            oom = isinstance(exc, ray.exceptions.OutOfMemoryError)
            killed = oom or isinstance(exc, ray.exceptions.WorkerCrashedError)  # maybe the kernel's OOM killer
            self._end(gen, "oom" if oom else "error", _cause(exc, task.info), split=killed)
            return
        if "started" in item:
            task.info.update(item, seen=time.time())
            self._start(task.group.cells, self._on_start)
            if self.claims is not None:
                self.claims.renew(task.group.cells)
            return
        cell = task.left.pop(item["key"], None)
        if cell is not None:
            self.store.write(item)
            self._on_done(cell, item)
        if not task.left:
            self._pending.pop(gen)

    def _end(self, gen: Any, status: str, error: str, split: bool = False) -> None:
        """A task that ended with members unfinished: with ``split`` (Ray stopped it for running out of
        memory, or its worker crashed, as under the kernel's out-of-memory killer) two or more unfinished
        members are split in halves and submitted again; otherwise each is recorded ``status``."""
        task = self._pending.pop(gen)
        rest = list(task.left.values())
        if split and len(rest) > 1:
            halves = split_group(subgroup(task.group, rest, self.memory, self.gpu_memory), self.memory, self.gpu_memory)
            for half in halves:
                self._submit(half)
            return
        for cell in rest:
            self._record(cell, base_record(cell, status, error=error), self._on_start, self._on_done)

    def _enforce_timeouts(self) -> None:
        if not self.timeout:
            return
        now = time.time()
        for gen, task in list(self._pending.items()):
            size = task.group.size
            if "seen" in task.info and now - task.info["seen"] > self.timeout * size:
                self.ray.cancel(gen, force=True)
                limit = f"--timeout {self.timeout:g}s" + (f" x {size} cells" if size > 1 else "")
                self._end(gen, "timeout", f"{'cell' if size == 1 else 'group'} exceeded {limit} and was stopped")


@dataclass
class _Task:
    """A submitted group: its members not recorded yet and what its start marker said."""

    group: Group
    left: dict[str, Cell]
    info: dict[str, Any] = field(default_factory=dict)


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
