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

from harness.cell import Cell
from harness.errors import Diverged, HarnessError


def check_device_name(requested: str) -> None:
    """A one-line error for a device name that is not auto, cpu, cuda or cuda:N (imports nothing)."""
    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise HarnessError(f"--device must be auto, cpu or cuda, got {requested!r}")


def resolve_device(requested: str) -> str:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is a one-line error."""
    check_device_name(requested)
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda" if requested == "auto" else requested
    if requested == "auto":
        return "cpu"
    raise HarnessError(f"--device {requested}: no CUDA device is available here (use --device cpu or auto)")


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads: oversubscribed cores make 2-thread torch 4-8x slower."""
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)


@lru_cache(maxsize=1)
def _git_state() -> tuple[str, bool]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    """Run one cell in this process and return its record (never raises for training failures)."""
    from harness.context import RunContext
    from harness.registry import REGISTRY

    threads = threads or max(1, os.cpu_count() or 1)
    set_threads(threads)
    started = time.time()
    ctx = RunContext(cell.seed, device=device)
    rec = base_record(cell, "error", started_at=_now(), provenance=provenance(device, threads))
    try:
        ctx.seed_everything("init")
        track = REGISTRY.get("track", cell.track).load()()
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
    rec["train_seconds"] = ctx.train_seconds
    rec["samples_seen"] = ctx.samples_seen
    rec["curves"] = ctx.curves
    rec["wall_seconds"] = time.time() - started
    rec["finished_at"] = _now()
    return rec


def _is_cuda_oom(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() and type(exc).__name__ in ("OutOfMemoryError", "RuntimeError")
