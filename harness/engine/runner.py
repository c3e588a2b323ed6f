"""Runs one cell: threads, device, seeds, train-only timing, status, provenance.

Whatever happens inside a track's ``run`` becomes a record with a status: a NaN loss is
``diverged`` (with the last finite metrics), an exception is ``error`` with its cause, never an
uncaught traceback that loses the rest of the suite.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from harness.engine.cell import Cell
from harness.engine.groups import Group
from harness.errors import Diverged, HarnessError, first_line


def check_device_name(requested: str) -> None:
    """A one-line error for a device name that is not auto, cpu, cuda or cuda:N (imports nothing)."""
    if requested not in ("auto", "cpu", "cuda") and not (requested.startswith("cuda:") and requested[5:].isdigit()):
        raise HarnessError(f"--device must be auto, cpu, cuda or cuda:N, got {requested!r}")


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU, or ``cuda:N`` past the host's
    last GPU, is a one-line error (before any cell runs)."""
    check_device_name(requested)
    if requested == "cpu":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        if requested == "auto":
            return "cpu"
        raise HarnessError(f"--device {requested}: no CUDA device is available here (use --device cpu or auto)")
    if requested == "auto":
        return "cuda"
    count = torch.cuda.device_count()
    index = torch.device(requested).index
    if index is not None and index >= count:
        raise HarnessError(
            f"--device {requested}: this host has {count} CUDA device(s), cuda:0 to cuda:{count - 1} "
            "(CUDA_VISIBLE_DEVICES counts too)"
        )
    return requested


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads: oversubscribed cores make 2-thread torch 4-8x slower."""
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)


@lru_cache(maxsize=1)
def _git_state() -> tuple[str, bool]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode == 0:
            return sha.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown", False


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("kexue-bench", "torch", "numpy", "scikit-learn", "transformers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def provenance(device: str, threads: int) -> dict[str, Any]:
    sha, dirty = _git_state()
    return {
        "git_sha": sha,
        "git_dirty": dirty,
        "versions": _versions(),
        "device": device,
        "threads": threads,
        "host": platform.node(),
        "platform": platform.platform(),
    }


def _device_provenance(ctx: Any, requested: str, cpu_reason: str, trained: bool) -> dict[str, Any]:
    """Where the cell's training ran, measured, not assumed: on a GPU run, a cell that allocated no
    GPU memory is recorded on ``cpu`` with the reason, never as ``cuda``."""
    out: dict[str, Any] = {"device": ctx.device, "precision": ctx.precision}
    if requested != ctx.device:
        out["requested_device"] = requested
    if cpu_reason:
        out["device_note"] = f"runs on the CPU: {cpu_reason}"
    if not ctx.on_cuda:
        return out
    import torch

    peak = torch.cuda.max_memory_allocated(ctx.device)
    props = torch.cuda.get_device_properties(ctx.device)
    out["gpu"] = {
        "name": props.name,
        "memory": int(props.total_memory),
        "peak_allocated": int(peak),
        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    }
    if ctx.cpu_parts:
        out["cpu_parts"] = list(ctx.cpu_parts)
    if peak == 0 and trained:
        out["requested_device"] = requested
        out["device"] = "cpu"
        out["device_note"] = "the cell allocated no GPU memory: its training ran on the CPU"
    return out


def _gpu_begin(device: str) -> None:
    import torch

    if torch.device(device).index is not None:
        torch.cuda.set_device(device)
    torch.cuda.reset_peak_memory_stats(device)


def _gpu_end() -> None:
    """Give the cell's cached GPU memory back (after an out-of-memory error above all), so the next cell
    of this worker, and the other workers on this GPU, find it free."""
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def base_record(cell: Cell, status: str, **extra: Any) -> dict[str, Any]:
    """A record skeleton; used for failures recorded by the executor (timeouts, killed workers)."""
    rec = {
        "key": cell.key,
        "cell": cell.to_dict(),
        "status": status,
        "metrics": {},
        "error": "",
        "train_seconds": 0.0,
        "wall_seconds": 0.0,
        "finished_at": _now(),
    }
    rec.update(extra)
    return rec


def run_cell(cell: Cell, device: str = "cpu", threads: int | None = None) -> dict[str, Any]:
    """Run one cell in this process and return its record (never raises for training failures).

    ``device`` is a resolved device (cpu, cuda, cuda:N); a cell its track declares CPU-only
    (``Track.cpu_only``) runs on the CPU and never touches CUDA."""
    from harness.engine.context import RunContext
    from harness.engine.precision import precision_scope
    from harness.registry import REGISTRY

    threads = threads or max(1, os.cpu_count() or 1)
    set_threads(threads)
    started = time.time()
    ctx = RunContext(cell.seed, device=device, precision=cell.precision)
    rec = base_record(cell, "error", started_at=_now(), provenance=provenance(device, threads))
    cpu_reason = ""
    try:
        track = REGISTRY.get("track", cell.track).load()()
        cpu_reason = track.cpu_only(cell) if ctx.on_cuda else ""
        if cpu_reason:
            ctx.device = "cpu"
        if ctx.on_cuda:
            _gpu_begin(ctx.device)
        ctx.seed_everything("init")
        with precision_scope(cell.precision, ctx.device):
            outcome: dict[str, float] | BaseException = track.run(cell, ctx)
    except Exception as exc:  # any training failure is a recorded status, not a crash
        outcome = exc
    if ctx.on_cuda:
        _gpu_end()
    _settle(rec, ctx, outcome)
    _close(rec, ctx, device, cpu_reason, ctx.train_seconds, time.time() - started)
    return rec


class GroupOutOfMemory(Exception):
    """A group's training ran out of memory as a whole: split it and run the halves."""


def run_group_cells(group: Group, device: str = "cpu", threads: int | None = None) -> list[dict[str, Any]]:
    """Run a group's cells as one batched model (``Track.run_group``) in this process and return one
    record per member, in order, each with ``cell`` alone's statuses and meanings. A member's
    ``train_seconds`` and ``wall_seconds`` are its equal share of the group's; ``provenance.group``
    says which group, of what size, at which index, and its whole training and wall seconds;
    ``provenance.shared_training`` names the member whose training a member of a shared set used.

    Raises ``GroupOutOfMemory`` when ``run_group`` itself raised an out-of-memory error (the caller
    splits the group); any other error it raises ends every member as ``error``."""
    from harness.engine.context import RunContext
    from harness.engine.precision import precision_scope
    from harness.registry import REGISTRY

    cells = list(group.cells)
    threads = threads or max(1, os.cpu_count() or 1)
    set_threads(threads)
    started = time.time()
    ctxs = [RunContext(c.seed, device=device, precision=c.precision) for c in cells]
    recs = [base_record(c, "error", started_at=_now(), provenance=provenance(device, threads)) for c in cells]
    cpu_reason, oom = "", None
    entries: list[dict[str, float] | BaseException] = []
    try:
        track = REGISTRY.get("track", group.cells[0].track).load()()
        cpu_reason = track.cpu_only(cells[0]) if ctxs[0].on_cuda else ""
        for ctx in ctxs if cpu_reason else ():
            ctx.device = "cpu"
        if ctxs[0].on_cuda:
            _gpu_begin(ctxs[0].device)
        with precision_scope(cells[0].precision, ctxs[0].device):
            entries = list(track.run_group(cells, ctxs))
        if len(entries) != len(cells):
            raise HarnessError(f"track {track.name}: run_group returned {len(entries)} entries for {len(cells)} cells")
        shared = _shared_sets(track, cells)
    except Exception as exc:
        if isinstance(exc, MemoryError) or _is_cuda_oom(exc):
            oom = f"{type(exc).__name__}: {first_line(exc)}"
        entries, shared = [exc] * len(cells), {}
    if ctxs[0].on_cuda:
        _gpu_end()
    if oom:
        raise GroupOutOfMemory(f"{group.describe()} ran out of memory: {oom}")
    train, wall = sum(ctx.train_seconds for ctx in ctxs), time.time() - started
    about = {"id": group.id, "size": len(cells), "seconds": train, "wall_seconds": wall}
    if group.split_from:
        about["split_from"] = group.split_from
    for i, (rec, ctx, entry) in enumerate(zip(recs, ctxs, entries)):
        _settle(rec, ctx, entry)
        _close(rec, ctx, device, cpu_reason, train / len(cells), wall / len(cells))
        rec["provenance"]["group"] = {**about, "index": i}
        if cells[i].key in shared:
            rec["provenance"]["shared_training"] = shared[cells[i].key]
    return recs


def _shared_sets(track: Any, cells: list[Cell]) -> dict[str, dict[str, Any]]:
    """Per member of a shared-training set of two or more in ``cells``: the set's value, the member
    whose training the set used (its first, as ``Track.run_group`` is asked to train it) and the set."""
    sets: dict[tuple[int, str], list[str]] = {}
    for cell in cells:
        value = track.shared_training(cell)
        if value is not None:
            sets.setdefault((cell.seed, value), []).append(cell.key)
    return {
        key: {"value": value, "trained_by": keys[0], "members": keys}
        for (_, value), keys in sets.items()
        if len(keys) > 1
        for key in keys
    }


def run_unit(group: Group, device: str = "cpu", threads: int | None = None) -> Iterator[dict[str, Any]]:
    """The records of a group's members as they finish: a lone cell through ``run_cell``, a group
    through ``run_group_cells``, split in halves (recursively, down to single cells) when it ran out
    of memory, so the halves' records come one half after the other."""
    if group.size == 1:
        yield run_cell(group.cells[0], device=device, threads=threads)
        return
    try:
        recs = run_group_cells(group, device=device, threads=threads)
    except GroupOutOfMemory:
        from harness.engine.groups import split

        for half in split(group):
            yield from run_unit(half, device=device, threads=threads)
        return
    for rec in recs:  # noqa: UP028 (not ``yield from``: Ray calls send(), which a list iterator lacks)
        yield rec


def _settle(rec: dict[str, Any], ctx: Any, outcome: dict[str, float] | BaseException) -> None:
    """A cell's status, metrics and error from its metrics or the exception that ended it: a NaN loss
    (``Diverged``) is ``diverged`` with the last finite metrics, an out-of-memory error ``oom``."""
    if not isinstance(outcome, BaseException):
        rec["status"] = "ok"
        rec["metrics"] = {k: float(v) for k, v in outcome.items()}
        if ctx.predictions:  # Store.write turns them into <key>.pred.npz beside the record
            rec["predictions"] = dict(ctx.predictions)
    elif isinstance(outcome, Diverged):
        rec["status"] = "diverged"
        rec["error"] = str(outcome)
        rec["metrics"] = {k: float(v) for k, v in outcome.metrics.items()}
    elif isinstance(outcome, MemoryError):
        rec["status"] = "oom"
        rec["error"] = f"MemoryError: {outcome}"
    elif isinstance(outcome, HarnessError):
        rec["error"] = str(outcome)
    else:
        if _is_cuda_oom(outcome):
            rec["status"] = "oom"
        rec["error"] = f"{type(outcome).__name__}: {outcome}"
        rec["traceback"] = "".join(traceback.format_exception(outcome, limit=20))


def _close(rec: dict[str, Any], ctx: Any, device: str, cpu_reason: str, train: float, wall: float) -> None:
    """Where it ran, its training and wall seconds, what it saw, and when it finished."""
    rec["provenance"].update(_device_provenance(ctx, device, cpu_reason, rec["status"] in ("ok", "diverged")))
    rec["train_seconds"] = train
    rec["samples_seen"] = ctx.samples_seen
    rec["curves"] = ctx.curves
    rec["wall_seconds"] = wall
    rec["finished_at"] = _now()


def _is_cuda_oom(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() and type(exc).__name__ in ("OutOfMemoryError", "RuntimeError")
