"""What a run will cost before it starts: each cell's estimated time (``Track.cost``), memory
(``Track.memory``) and GPU memory (``Track.gpu_memory``), per-track sums, how many cell groups they
run as (a group's cost is its members' times ``Track.group_cost_factor``), and the lines ``harness
run`` prints before and after.

Why printed by every run, not only ``--dry-run``: the estimate beside the measured wall time at
the end is how the cost model gets checked (and corrected) run after run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.engine.groups import Group
from harness.engine.memory import fmt_bytes
from harness.registry import REGISTRY


@dataclass
class Estimate:
    seconds: dict[str, float] = field(default_factory=dict)  # cell key -> core-seconds
    memory: dict[str, int] = field(default_factory=dict)  # cell key -> bytes one worker needs
    gpu_memory: dict[str, int] = field(default_factory=dict)  # cell key -> GPU bytes on a GPU run (0: CPU cell)
    cpu_only: dict[str, str] = field(default_factory=dict)  # cell key -> why it runs on the CPU on a GPU run
    cells: list[Any] = field(default_factory=list)
    shared: dict[str, float] = field(default_factory=dict)  # what -> core-seconds shared by the cells (once)
    problems: list[str] = field(default_factory=list)  # shared work a track could not count
    groups: list[Any] = field(default_factory=list)  # the groups the cells run as (empty: not formed yet)
    alone: dict[str, float] = field(default_factory=dict)  # cell key -> core-seconds run alone (before groups)

    def unit_seconds(self, group: Any) -> float:
        """Core-seconds of one scheduled unit (a group, or a lone cell)."""
        return sum(self.seconds[k] for k in group.keys)

    def minutes(self, jobs: int) -> float:
        """Wall minutes with ``jobs`` groups at a time: the work (cells and the shared builds) spread over
        the jobs, but never less than the longest group or cell (they start longest first)."""
        total = sum(self.seconds.values()) + sum(self.shared.values())
        units = [self.unit_seconds(g) for g in self.groups] or list(self.seconds.values())
        return max(total / max(1, jobs), max(units, default=0.0)) / 60

    def use_groups(self, groups: list[Any]) -> None:
        """Cost the cells as the groups they run in: a group's core-seconds are its members' ``cost``
        summed times its track's ``group_cost_factor``, and each member is given an equal share."""
        self.groups = list(groups)
        self.alone = self.alone or dict(self.seconds)  # a cell's own cost, whatever groups it ran in
        for group in self.groups:
            if group.size < 2:
                continue
            try:
                factor = float(
                    REGISTRY.get("track", group.cells[0].track).load()().group_cost_factor(list(group.cells))
                )
            except Exception:
                factor = 1.0
            share = factor * sum(self.alone[k] for k in group.keys) / group.size
            for key in group.keys:
                self.seconds[key] = share

    def lines(self, jobs: int, head: str) -> list[str]:
        per_track: dict[str, list[float]] = {}
        for c in self.cells:
            n, s, m, g = per_track.get(c.track, [0, 0.0, 0, 0])
            per_track[c.track] = [n + 1, s + self.seconds[c.key], max(m, self.memory[c.key]), g]
        grouped = [g for g in self.groups if g.size > 1]
        for g in grouped:
            per_track[g.cells[0].track][3] += 1
        out = [
            f"  {t}: {int(n)} cells{_in_groups(int(k))}, ~{s / 60:.1f} core-minutes, up to {fmt_bytes(m)} per cell"
            for t, (n, s, m, k) in sorted(per_track.items())
        ]
        out += [f"  {t}: group of {size} cells declares {fmt_bytes(m)}" for t, size, m in _largest_groups(grouped)]
        total = sum(self.seconds.values()) + sum(self.shared.values())
        building = sum(self.shared.values()) / max(1, jobs) / 60
        of_which = f", of which ~{building:.1f} min {' and '.join(self.shared)}" if self.shared else ""
        singles = sum(1 for g in self.groups if g.size == 1)
        units = f" ({len(grouped)} groups and {singles} single cells)" if grouped else ""
        out.append(
            f"{head}: {len(self.cells)} cells to run{units}, estimated ~{total / 60:.1f} core-minutes, "
            f"~{self.minutes(jobs):.1f} minutes with {jobs} job(s){of_which}"
        )
        out += [f"  note: {p}" for p in self.problems]
        return out


def _in_groups(n: int) -> str:
    return f" in {n} group{'s' if n != 1 else ''}" if n else ""


def _largest_groups(groups: list[Any]) -> list[tuple[str, int, int]]:
    """Per track, its largest group's size and declared memory (what admission waits for)."""
    out: dict[str, tuple[int, int]] = {}
    for g in groups:
        track = g.cells[0].track
        out[track] = max(out.get(track, (0, 0)), (g.size, g.memory))
    return [(t, size, m) for t, (size, m) in sorted(out.items())]


def estimate(cells: list[Any]) -> Estimate:
    """Each cell's cost and memory from its track, computed once (for ordering, printing, admission).

    Loads the track classes (cheap, no torch); an estimate that fails counts as 0 s and the default
    memory, so it never stops a run. Then each track counts the work its pending cells share
    (``Track.shared_cost``: the fewshot track tokenizes the texts of pending causal-LM cells to see
    which cached states are missing, which imports transformers, only when such cells are pending)."""
    from harness.track import DEFAULT_CELL_MEMORY, DEFAULT_GPU_MEMORY

    tracks: dict[str, Any] = {}
    est = Estimate(cells=list(cells))
    for cell in cells:
        if cell.track not in tracks:
            tracks[cell.track] = REGISTRY.get("track", cell.track).load()()
        track = tracks[cell.track]
        try:
            est.seconds[cell.key] = float(track.cost(cell))
        except Exception:
            est.seconds[cell.key] = 0.0
        try:
            est.memory[cell.key] = int(track.memory(cell))
        except Exception:
            est.memory[cell.key] = DEFAULT_CELL_MEMORY
        try:
            est.cpu_only[cell.key] = str(track.cpu_only(cell))
        except Exception:
            est.cpu_only[cell.key] = ""
        try:
            est.gpu_memory[cell.key] = int(track.gpu_memory(cell))
        except Exception:
            est.gpu_memory[cell.key] = 0 if est.cpu_only[cell.key] else DEFAULT_GPU_MEMORY
    for name, track in tracks.items():
        try:
            for what, seconds in track.shared_cost([c for c in cells if c.track == name]).items():
                est.shared[what] = est.shared.get(what, 0.0) + float(seconds)
        except Exception as exc:  # never stops a run; says what it could not count
            from harness.errors import first_line

            est.problems.append(f"{name}: shared work not counted ({first_line(exc)})")
    return est


def longest_first(cells: list[Any], est: Estimate) -> list[Any]:
    """Start the most expensive cells (or groups) first, so that with --jobs N the last few long ones do
    not run alone while the other workers sit idle."""
    if cells and isinstance(cells[0], Group):
        return sorted(cells, key=est.unit_seconds, reverse=True)
    return sorted(cells, key=lambda c: est.seconds[c.key], reverse=True)


def block_lines(suite: Any, cell_filter: Any, device: str) -> list[str]:
    """One line per suite block for ``--dry-run``: its cells, whether it can run and what it needs
    (data present, downloading on first use, or exactly what is missing and how to get it), its
    core-minutes on this CPU and, for ``--device cuda``, its GPU-hours from the measured paper-model
    timings. ``cell_filter(suite)`` expands a one-block suite with the run's --track/--method/
    --dataset/--seeds filters. Makes no request and needs no GPU: a dry run names its target device."""
    import dataclasses

    from harness.data.requirements import block_needs
    from harness.errors import HarnessError

    gpus = _gpu_targets(device)
    out = [f"blocks of suite {suite.name} (target device: {device}):"]
    for i, block in enumerate(suite.blocks):
        head = f"  [{i}] {block.track} {', '.join(d.name for d, _ in block.datasets)}"
        if not block.runnable:
            out.append(f"{head}: not runnable (code missing): {block.reason or 'marked runnable = false'}")
            continue
        try:
            cells = cell_filter(dataclasses.replace(suite, blocks=[block]))
        except HarnessError:
            continue  # filtered out by --track/--method/--dataset
        needs = block_needs(block)
        missing = [n.detail for n in needs if not n.usable]
        state = f"MISSING {'; '.join(missing)}" if missing else "runnable"
        ready = "; ".join(n.detail for n in needs if n.usable) or "data bundled"
        est = estimate(cells)
        cost = f"~{sum(est.seconds.values()) / 60:.1f} core-minutes"
        out.append(f"{head}: {len(cells)} cells, {state}; {ready}; {cost}{_gpu_hours(cells, gpus)}")
    return out


def _gpu_targets(device: str) -> list[str] | None:
    """GPU names to price a ``cuda`` run on: this machine's (nvidia-smi), else every measured one;
    None for a CPU run."""
    if not device.startswith("cuda"):
        return None
    from harness.models.timings import load_table, local_gpu_names

    here = local_gpu_names()
    if here:
        index = device.partition(":")[2]
        return [here[int(index)]] if index.isdigit() and int(index) < len(here) else here[:1]
    measured = {d for table in load_table().values() for d in table if not d.startswith("CPU")}
    return sorted(measured)


def _gpu_hours(cells: list[Any], gpus: list[str] | None) -> str:
    """'; <gpu>: ~N GPU-hours' per target GPU, or '<gpu>: not measured on this GPU' where a cell's
    track has no timing for it (only the paper networks are measured)."""
    if gpus is None:
        return ""
    if not gpus:
        return "; GPU: not measured on any GPU yet (benchmarks/bench_paper_models.py)"
    tracks = {name: REGISTRY.get("track", name).load()() for name in {c.track for c in cells}}
    parts = []
    for gpu in gpus:
        secs = [_device_seconds(tracks[c.track], c, gpu) for c in cells]
        if any(x is None for x in secs):
            parts.append(f"{gpu}: not measured on this GPU")
        else:
            parts.append(f"{gpu}: ~{sum(secs) / 3600:.1f} GPU-hours")
    return "; " + "; ".join(parts)


def _device_seconds(track: Any, cell: Any, device: str) -> float | None:
    """A track's measured seconds for ``cell`` on ``device``: tracks with a paper network define
    ``device_seconds`` (from harness/models/paper_timings.json); the others have none."""
    timed = getattr(track, "device_seconds", None)
    return timed(cell, device) if timed else None
