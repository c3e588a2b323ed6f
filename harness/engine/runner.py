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
from functools import lru_cache
from typing import Any

from harness.engine.cell import Cell
from harness.errors import Diverged, HarnessError


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
            metrics = track.run(cell, ctx)
        rec["status"] = "ok"
        rec["metrics"] = {k: float(v) for k, v in metrics.items()}
        if ctx.predictions:  # Store.write turns them into <key>.pred.npz beside the record
            rec["predictions"] = dict(ctx.predictions)
    except Diverged as exc:
        rec["status"] = "diverged"
        rec["error"] = str(exc)
        rec["metrics"] = {k: float(v) for k, v in exc.metrics.items()}
    except MemoryError as exc:
        rec["status"] = "oom"
        rec["error"] = f"MemoryError: {exc}"
    except HarnessError as exc:
        rec["error"] = str(exc)
    except Exception as exc:  # any training failure is a recorded status, not a crash
        if _is_cuda_oom(exc):
            rec["status"] = "oom"
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=20)
    if ctx.on_cuda:
        _gpu_end()
    rec["provenance"].update(_device_provenance(ctx, device, cpu_reason, rec["status"] in ("ok", "diverged")))
    rec["train_seconds"] = ctx.train_seconds
    rec["samples_seen"] = ctx.samples_seen
    rec["curves"] = ctx.curves
    rec["wall_seconds"] = time.time() - started
    rec["finished_at"] = _now()
    return rec


def _is_cuda_oom(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() and type(exc).__name__ in ("OutOfMemoryError", "RuntimeError")
