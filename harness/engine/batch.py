"""Run a batch of cells the way every ``harness run`` does: form the groups, say the estimate, claim and
run them, wait for what another run is computing, say the measured time.

Why shared: ``harness run`` and each round of ``--decide`` run cells alike (the same groups,
executors, progress, memory admission, claims and kill-safety), so an added seed is just another cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import click

from harness.engine.cell import Cell
from harness.engine.claim_files import ClaimFiles
from harness.engine.executor_factory import make_executor
from harness.engine.groups import Group, Limits, form_groups, likely_gpu
from harness.engine.progress import Progress
from harness.engine.store import Store

POLL_S = 1.0  # how often a run waiting for another run's cells looks at their claims


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
    group: str = "auto"  # --group: auto | on | off (harness.engine.groups)


def plan_groups(cells: list[Cell], est: Any, opts: ExecOptions, ask_gpus: bool = True) -> list[Group]:
    """The groups ``cells`` run as under ``opts.group`` on ``opts.device``, longest first, with the
    estimate costed by group. ``ask_gpus``: the device is resolved and cells run on this machine, so
    the largest GPU's memory caps a group (imports torch; ``--dry-run`` does not). A track's hook that
    rejects a cell is one line (``HarnessError``)."""
    from harness.engine.estimate import longest_first
    from harness.engine.memory import total_memory

    if not cells:
        return []
    gpu = None
    if ask_gpus and opts.device.startswith("cuda") and opts.executor != "ray":
        from harness.engine.gpus import CUDA_CONTEXT, visible_gpus

        largest = max((g.total for g in visible_gpus(opts.device)), default=None)
        gpu = None if largest is None else largest - CUDA_CONTEXT
    groups = form_groups(cells, est, opts.group, likely_gpu(opts.device), Limits(total_memory(), gpu))
    est.use_groups(groups)
    return longest_first(groups, est)


def run_batch(todo: list[Cell] | list[Group], est: Any, store: Store, opts: ExecOptions) -> None:
    """Say the cost, run the groups (forming them from cells when given cells), then put the measured
    wall time beside the estimate. Each group is claimed before it starts (``ClaimFiles``); cells
    another live run holds are waited for once this run's own are done, and taken over if that run
    dies or gives them up."""
    groups = todo if not todo or isinstance(todo[0], Group) else plan_groups(todo, est, opts)
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
    cells = [c for g in groups for c in g.cells]
    claims = ClaimFiles(store.root, opts.timeout)
    ex.claims = claims
    elsewhere: list[Cell] = []
    t0 = time.time()
    with Progress(len(cells), opts.jobs, enabled=not opts.quiet) as prog:

        def done(cell: Cell, summary: dict[str, Any]) -> None:
            claims.release(cell)
            if summary.get("elsewhere"):
                elsewhere.append(cell)
            prog.finish(cell, summary)

        try:
            waiting: list[Cell] = []
            while groups or waiting:
                if groups:
                    ex.elsewhere = []
                    ex.run(groups, prog.start, done)
                    waiting += ex.elsewhere
                take, waiting = _await_others(waiting, store, claims, prog, done)
                groups = plan_groups(take, est, opts) if take else []
        finally:
            claims.release_all(cells)
    wall = time.time() - t0
    click.echo(
        f"ran {len(cells) - len(elsewhere)} cells in {wall / 60:.1f} min ({wall:.1f}s; estimated "
        f"~{est.minutes(opts.jobs):.1f} min) with {opts.jobs} job(s) on {opts.device}; results in {store.root}/",
        err=True,
    )
    if elsewhere:
        click.echo(f"{len(elsewhere)} cells were computed by another run on {store.root}/ meanwhile", err=True)


def _await_others(
    waiting: list[Cell], store: Store, claims: ClaimFiles, prog: Progress, done: Any
) -> tuple[list[Cell], list[Cell]]:
    """Wait until cells another run claimed are recorded (reported as done) or theirs to take (the
    claim went stale, or was given up without a record). Returns (to run here now, still waiting)."""
    said = False
    while waiting:
        take, still = [], []
        for cell in waiting:
            info = claims.read(cell)
            if info is None and claims.recorded_since(store, cell):
                prog.start(cell)
                done(cell, {**(store.read(cell.track, cell.key) or {}), "elsewhere": True})
            elif info is None or claims.stale(cell, info):
                take.append(cell)
            else:
                still.append(cell)
        if take:
            prog.note(f"taking over {len(take)} cell(s) whose claim another run left or gave up")
            return take, still
        if still and not said:
            holders = ", ".join(sorted({claims.holder(claims.read(c)) for c in still}))
            prog.note(f"waiting for {len(still)} cell(s) that another run is computing ({holders})")
            said = True
        waiting = still
        if waiting:
            time.sleep(POLL_S)
    return [], []
