"""Run a batch of cells the way every ``harness run`` does: say the estimate, run, say the measured time.

Why shared: ``harness run`` and each round of ``--decide`` run cells alike (the same executors,
progress, memory admission and kill-safety), so an added seed is just another cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import click

from harness.engine.executor_factory import make_executor
from harness.engine.progress import Progress


@dataclass(frozen=True)
class ExecOptions:
    """How cells run: the executor and its knobs, as ``harness run`` got them."""

    executor: str = "local"
    device: str = "cpu"
    jobs: int = 1
    timeout: float | None = None
    threads: int | None = None
    ray_address: str | None = None
    quiet: bool = False


def run_batch(todo: list[Any], est: Any, store: Any, opts: ExecOptions) -> None:
    """Say the cost, run the cells, then put the measured wall time beside the estimate."""
    for line in est.lines(opts.jobs, "plan"):
        click.echo(line, err=True)
    extra = {"address": opts.ray_address} if opts.executor == "ray" else {}
    ex = make_executor(
        opts.executor,
        store,
        device=opts.device,
        jobs=opts.jobs,
        timeout=opts.timeout,
        threads=opts.threads,
        memory=est.memory,
        gpu_memory=est.gpu_memory,
        **extra,
    )
    t0 = time.time()
    with Progress(len(todo), opts.jobs, enabled=not opts.quiet) as prog:
        ex.run(todo, prog.start, prog.finish)
    wall = time.time() - t0
    click.echo(
        f"ran {len(todo)} cells in {wall / 60:.1f} min ({wall:.1f}s; estimated ~{est.minutes(opts.jobs):.1f} min) "
        f"with {opts.jobs} job(s) on {opts.device}; results in {store.root}/",
        err=True,
    )
