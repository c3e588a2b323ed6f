"""Cell groups: pending cells that train as one batched model, formed before anything runs.

Why: on a GPU (and on a CPU for small models) K seeds trained as one stacked model cost about one
seed's steps, and a method that differs from another only at prediction (``Track.shared_training``)
need not train at all. A group is the unit the executors schedule; each member still ends as its own
record under its own run key (``harness.engine.runner.run_group_cells``).

How groups form (after the cache/resume filter, so a finished cell never joins one):
- cells of one track, seed and ``shared_training`` value are one unit that is never split by the
  planner, whatever ``--group`` says: nothing is trained twice;
- units whose members share ``(track, precision, runs-on-CPU, group_key)`` are packed, by seed, into groups of
  at most ``Track.max_group_size`` cells, in balanced chunks (17 cells with a cap of 16 are 9 + 8, not
  16 + 1), each also capped so that its declared memory (``Track.group_memory``,
  ``Track.group_gpu_memory``) fits in the machine's memory and on the GPU beside a CUDA context;
- ``--group off`` packs nothing; ``on`` packs every cell with a key; ``auto`` packs on a GPU always
  and on a CPU only cells whose track says grouping pays there (``Track.group_pays_on_cpu``).

Torch-free: ``--dry-run`` forms the groups to count them. A track whose hooks reject a cell stops the
run with one line (``HarnessError``) before any cell starts.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.engine.cell import Cell
from harness.errors import HarnessError, first_line
from harness.registry import REGISTRY

GROUP_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Group:
    """Cells scheduled as one unit, with the memory the whole unit declares."""

    cells: tuple[Cell, ...]
    memory: int = 0  # host bytes of a worker running the group
    gpu_memory: int = 0  # GPU bytes of the group on a GPU run (0: runs on the CPU)
    split_from: str = ""  # the id of the group this one is half of, after an out-of-memory split

    @cached_property
    def id(self) -> str:
        """Names the members (not their order), so the same cells are the same group in every run."""
        return hashlib.sha256(",".join(sorted(c.key for c in self.cells)).encode()).hexdigest()[:12]

    @property
    def size(self) -> int:
        return len(self.cells)

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.cells]

    def describe(self) -> str:
        if self.size == 1:
            return self.cells[0].describe()
        return f"group {self.id} of {self.size} {self.cells[0].track} cells"

    def to_message(self) -> dict[str, Any]:
        """What a worker process gets: the cells and the group's identity."""
        return {"cells": [c.to_dict() for c in self.cells], "group": {"id": self.id, "split_from": self.split_from}}


def as_groups(items: Iterable[Cell | Group], memory: dict[str, int], gpu_memory: dict[str, int]) -> list[Group]:
    """Groups as given; a bare cell becomes a group of one with its own declarations."""
    return [i if isinstance(i, Group) else single(i, memory, gpu_memory) for i in items]


def single(cell: Cell, memory: dict[str, int], gpu_memory: dict[str, int]) -> Group:
    return Group((cell,), memory.get(cell.key, 0), gpu_memory.get(cell.key, 0))


def check_mode(mode: str) -> None:
    if mode not in GROUP_MODES:
        raise HarnessError(f"--group must be one of {', '.join(GROUP_MODES)}; got {mode!r}")


def likely_gpu(device: str) -> bool:
    """Whether ``device`` will be a GPU, without importing torch: cuda names are, ``auto`` is when an
    NVIDIA device node exists and ``CUDA_VISIBLE_DEVICES`` does not hide every GPU."""
    if device.startswith("cuda"):
        return True
    if device != "auto":
        return False
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidia0")


class _Tracks:
    """Track instances by name, and their group hooks with any failure turned into one line."""

    def __init__(self) -> None:
        self.by_name: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.by_name:
            self.by_name[name] = REGISTRY.get("track", name).load()()
        return self.by_name[name]

    def ask(self, cell: Cell, hook: str) -> Any:
        try:
            return getattr(self[cell.track], hook)(cell)
        except HarnessError as exc:
            raise HarnessError(f"track {cell.track}: {hook} rejects {cell.describe()}: {first_line(exc)}") from None
        except Exception as exc:
            raise HarnessError(
                f"track {cell.track}: {hook} failed for {cell.describe()}: {type(exc).__name__}: {first_line(exc)}"
            ) from None

    def declared(self, cells: list[Cell], memory: dict[str, int], gpu_memory: dict[str, int]) -> tuple[int, int]:
        """(host, GPU) bytes a group of ``cells`` declares (a lone cell keeps its own declaration from
        ``memory``/``gpu_memory``); a hook that fails counts the members' declarations summed."""
        if len(cells) == 1:
            return memory.get(cells[0].key, 0), gpu_memory.get(cells[0].key, 0)
        track = self[cells[0].track]
        try:
            host = int(track.group_memory(cells))
        except Exception:
            host = sum(memory.get(c.key, 0) for c in cells)
        if not any(gpu_memory.get(c.key, 0) for c in cells):
            return host, 0
        try:
            return host, int(track.group_gpu_memory(cells))
        except Exception:
            return host, sum(gpu_memory.get(c.key, 0) for c in cells)


@dataclass(frozen=True)
class Limits:
    """What one group may declare: the machine's memory, and the largest GPU's less a CUDA context
    (None: not known)."""

    host: int | None = None
    gpu: int | None = None


def form_groups(cells: list[Cell], est: Any, mode: str, on_gpu: bool, limits: Limits | None = None) -> list[Group]:
    """The groups ``cells`` run as (see the module docstring), in the order of their first members."""
    check_mode(mode)
    limits = limits or Limits()
    tracks = _Tracks()
    units: dict[tuple, list[Cell]] = {}
    for cell in cells:
        shared = tracks.ask(cell, "shared_training")
        uid = (cell.track, cell.precision, cell.seed, shared) if shared is not None else ("", cell.key)
        units.setdefault(uid, []).append(cell)
    packs: dict[tuple, list[list[Cell]]] = {}
    for uid, unit in units.items():
        key = _pack_key(unit, tracks, est, mode, on_gpu)
        packs.setdefault(key if key is not None else ("", uid), []).append(unit)
    out: list[Group] = []
    declared = functools.partial(tracks.declared, memory=est.memory, gpu_memory=est.gpu_memory)
    for pack in packs.values():
        pack.sort(key=lambda unit: (unit[0].seed, unit[0].describe(), unit[0].key))  # whatever the cells' order
        cap = max(1, int(tracks[pack[0][0].track].max_group_size))
        for chunk in _chunks(pack, cap, lambda cs: _fits(declared(cs), limits)):
            host, gpu = declared(chunk)
            out.append(Group(tuple(chunk), host, gpu))
    order = {c.key: i for i, c in enumerate(cells)}
    return sorted(out, key=lambda g: min(order[k] for k in g.keys))


def _pack_key(unit: list[Cell], tracks: _Tracks, est: Any, mode: str, on_gpu: bool) -> tuple | None:
    """What a unit may be packed with (None: it runs alone): equal track, precision, device and key."""
    keys = {tracks.ask(c, "group_key") for c in unit}
    if mode == "off" or len(keys) != 1 or None in keys:
        return None
    if mode == "auto" and not on_gpu and not all(tracks.ask(c, "group_pays_on_cpu") for c in unit):
        return None
    cell = unit[0]
    return (cell.track, cell.precision, bool(est.cpu_only.get(cell.key)), keys.pop())


def _fits(declared: tuple[int, int], limits: Limits) -> bool:
    host, gpu = declared
    return (limits.host is None or host <= limits.host) and (limits.gpu is None or gpu <= limits.gpu)


def _chunks(units: list[list[Cell]], cap: int, fits: Callable[[list[Cell]], bool]) -> list[list[Cell]]:
    """Units packed in order into as few chunks of at most ``cap`` cells as the count allows, of about
    equal size (10 cells with a cap of 4 are 4 + 3 + 3), each fitting in memory; a unit larger than the
    cap stays whole."""
    left = sum(len(u) for u in units)
    chunks_left = math.ceil(left / cap)
    out: list[list[Cell]] = []
    current: list[Cell] = []
    for unit in units:
        target = min(cap, math.ceil(left / max(1, chunks_left)))
        if current and (len(current) + len(unit) > target or not fits(current + unit)):
            out.append(current)
            left -= len(current)
            chunks_left = max(1, chunks_left - 1)
            current = []
        current = current + unit
    if current:
        out.append(current)
    return out


def split(group: Group, memory: dict[str, int] | None = None, gpu_memory: dict[str, int] | None = None) -> list[Group]:
    """The two halves of a group that ran out of memory, each with its own declarations (see
    ``subgroup``). Shared-training units stay whole while there are two or more; a lone unit splits
    into its cells' halves (then the set trains twice: better than not at all)."""
    tracks = _Tracks()
    units: dict[Any, list[Cell]] = {}
    for cell in group.cells:
        shared = tracks.ask(cell, "shared_training")
        units.setdefault((cell.seed, shared) if shared is not None else cell.key, []).append(cell)
    parts = list(units.values()) if len(units) > 1 else [[c] for c in group.cells]
    half = sum(len(p) for p in parts) / 2
    first: list[Cell] = []
    while parts and (not first or len(first) + len(parts[0]) <= half):
        first += parts.pop(0)
    second = [c for p in parts for c in p]
    return [subgroup(group, h, memory, gpu_memory, split_from=group.id) for h in (first, second) if h]


def subgroup(
    group: Group,
    cells: list[Cell],
    memory: dict[str, int] | None = None,
    gpu_memory: dict[str, int] | None = None,
    split_from: str = "",
) -> Group:
    """The group of some of ``group``'s cells (its half, or the members another run has not claimed),
    declaring memory from the per-cell ``memory``/``gpu_memory`` given, else from the track's hooks."""
    tracks = _Tracks()
    if memory is None:
        memory = {c.key: int(tracks[c.track].memory(c)) for c in cells}
    if gpu_memory is None:
        on_gpu = group.gpu_memory > 0
        gpu_memory = {c.key: int(tracks[c.track].gpu_memory(c)) if on_gpu else 0 for c in cells}
    return Group(tuple(cells), *tracks.declared(cells, memory, gpu_memory), split_from=split_from or group.split_from)
