"""The GPUs of a run: which ones, what they hold, which GPU each worker uses, how many cells fit.

Why: a GPU is shared memory, not cores. Each worker process that touches CUDA holds a context
(``CUDA_CONTEXT``) and its cells' tensors; sixteen workers of a 16-core host on one GPU would be
sixteen contexts and an out-of-memory error for the first large cell. So a cell declares its GPU
memory (``Track.gpu_memory``), a run refuses before it starts a cell that no GPU of the host can
hold, the default number of jobs on a GPU run is what fits in the GPUs' free memory, each worker
sees exactly one GPU (``CUDA_VISIBLE_DEVICES``, spread round-robin over the GPUs), and a worker
starts a cell only when its declared memory fits in what is free on its GPU now
(``torch.cuda.mem_get_info``, less what the running cells declared but do not hold yet; what each
worker holds is read from ``nvidia-smi`` where it exists).

Only called when cells will run on a GPU: the driver then opens one CUDA context per GPU it reads.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.engine.memory import MemoryGate, fmt_bytes
from harness.errors import HarnessError

CUDA_CONTEXT = 512 * 1024**2  # what a process's CUDA context and torch's kernels take on the GPU
SMI_TTL_S = 1.0


@dataclass(frozen=True)
class Gpu:
    """One GPU as this process numbers it (``index``), as the host does (``visible_id``), and its size."""

    index: int
    visible_id: str
    name: str
    total: int


def visible_gpus(device: str) -> list[Gpu]:
    """The GPUs a run on ``device`` (a resolved ``cuda`` or ``cuda:N``) uses: all, or the one named."""
    import torch

    count = torch.cuda.device_count()
    parent = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [x.strip() for x in parent.split(",") if x.strip()] if parent else []
    index = torch.device(device).index
    out = []
    for i in [index] if index is not None else range(count):
        props = torch.cuda.get_device_properties(i)
        out.append(Gpu(i, ids[i] if i < len(ids) else str(i), props.name, int(props.total_memory)))
    return out


def cell_need(declared: int) -> int:
    """GPU bytes a cell needs on a fresh worker: its declaration plus a CUDA context (0: a CPU cell)."""
    return declared + CUDA_CONTEXT if declared > 0 else 0


def check_fits(gpus: list[Gpu], groups: list[Any]) -> None:
    """One line, before any cell runs, for a cell (or group) that declares more GPU memory than every
    GPU has (the planner never forms such a group, so in practice a lone cell)."""
    if not gpus:
        return
    largest = max(gpus, key=lambda g: g.total)
    for group in groups:
        if group.gpu_memory > largest.total:
            raise HarnessError(
                f"{group.describe()} declares {fmt_bytes(group.gpu_memory)} of GPU memory, more than "
                f"cuda:{largest.index} ({largest.name}) has ({fmt_bytes(largest.total)}); run it with --device cpu"
            )


def free_memory(index: int) -> int:
    import torch

    return int(torch.cuda.mem_get_info(index)[0])


def default_jobs(gpus: list[Gpu], needs: dict[str, int], cores: int, unit: str = "cell") -> tuple[int, str]:
    """Jobs for a GPU run without ``--jobs``: as many of the largest cell (or group: ``unit``) as fit in
    the free memory of the GPUs (at most one per core), and the line that says why."""
    largest = max(needs.values(), default=0)
    if largest <= 0 or not gpus:
        return cores, ""
    fit = sum(free_memory(g.index) // largest for g in gpus)
    jobs = max(1, min(cores, fit))
    free = sum(free_memory(g.index) for g in gpus)
    return jobs, (
        f"jobs: {jobs} ({fmt_bytes(free)} free on {len(gpus)} GPU(s) holds {fit} {unit}(s) of up to "
        f"{fmt_bytes(largest)}, {cores} cores; --jobs overrides)"
    )


def plan_gpu_run(items: list[Any], est: Any, device: str, jobs: int | None, cores: int) -> tuple[int, list[str]]:
    """Before any cell of a GPU run starts: refuse a cell no GPU can hold (one line), say which cells
    run on the CPU and why, and pick the jobs when ``--jobs`` was not given: as many of the largest
    group or cell (``items``, groups or cells) as fit. Returns (jobs, lines)."""
    from harness.engine.groups import as_groups

    gpus = visible_gpus(device)
    groups = as_groups(items, est.memory, est.gpu_memory)
    needs = {g.id: cell_need(g.gpu_memory) for g in groups}
    check_fits(gpus, groups)
    lines = []
    reasons: dict[tuple[str, str], int] = {}
    for c in (c for g in groups for c in g.cells):
        if est.cpu_only.get(c.key):
            reasons[(c.track, est.cpu_only[c.key])] = reasons.get((c.track, est.cpu_only[c.key]), 0) + 1
    for (track, why), n in sorted(reasons.items()):
        lines.append(f"note: {track}: {n} cell(s) run on the CPU: {why}")
    names = ", ".join(f"cuda:{g.index} {g.name} {fmt_bytes(g.total)}" for g in gpus)
    lines.append(f"GPU(s): {names}")
    if jobs is None:
        jobs, why = default_jobs(gpus, needs, cores, "group" if any(g.size > 1 for g in groups) else "cell")
        if why:
            lines.append(why)
    return jobs, lines


class _ProcessMemory:
    """GPU memory per process id from ``nvidia-smi`` (read at most once a second; empty without it)."""

    def __init__(self) -> None:
        self.at = 0.0
        self.used: dict[int, int] = {}

    def __call__(self, pid: int) -> int:
        if time.monotonic() - self.at > SMI_TTL_S:
            self.at = time.monotonic()
            self.used = _smi_process_memory()
        return self.used.get(pid, 0)


def _smi_process_memory() -> dict[int, int]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    used = {}
    for line in out.splitlines():
        pid, _, mib = line.partition(",")
        if pid.strip().isdigit() and mib.strip().isdigit():
            used[int(pid)] = int(mib) * 1024**2
    return used


class GpuGates:
    """One ``MemoryGate`` per GPU, fed by ``torch.cuda.mem_get_info``; a worker's resident GPU memory
    comes from ``nvidia-smi`` (0 without it: then running cells count at their full declaration)."""

    def __init__(self, gpus: list[Gpu], free: Callable[[int], int] = free_memory):
        self.gpus = gpus
        self.process_memory = _ProcessMemory()
        self.gates = {g.index: MemoryGate(available=lambda i=g.index: free(i), total=g.total) for g in gpus}

    def gpu_of_slot(self, slot: int) -> Gpu:
        return self.gpus[slot % len(self.gpus)]
