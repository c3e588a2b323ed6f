"""Result records written straight to a store (no training): tiny results directories for the
report, publish and compare tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.engine.cell import Cell
from harness.engine.store import Store
from harness.registry import REGISTRY

TRACKS = ("igr", "fewshot", "tokenization", "imbalance", "weightreg", "vae", "embdim", "dialogue")


def write_results(
    root: Path, tracks: tuple[str, ...] = TRACKS, scale: str = "quick", seeds: int = 3, shift: float = 0.0
) -> None:
    """For each track: its baseline and one other method on its first dataset, ``seeds`` seeds, the
    primary metric only (other method = baseline + 0.05 + ``shift``, with a little seed noise)."""
    store = Store(root)
    for track in tracks:
        cls = REGISTRY.get("track", track).load()
        base = REGISTRY.baseline(track)
        other = next(m for m in REGISTRY.entries("method", track) if m.name != base.name)
        dataset = REGISTRY.entries("dataset", track)[0]
        versions = {"track": REGISTRY.get("track", track).version, "dataset": dataset.version}
        for method, offset in ((base, 0.0), (other, 0.05 + shift)):
            for seed in range(seeds):
                cell = Cell(
                    track, dataset.name, {}, method.name, {}, {}, seed, scale, {**versions, "method": method.version}
                )
                value = 0.5 + offset + 0.01 * ((seed * 7) % 3)
                store.write(_record(cell, {cls.primary: value}, seed))


def _record(cell: Cell, metrics: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "cell": cell.to_dict(),
        "key": cell.key,
        "status": "ok",
        "error": "",
        "metrics": metrics,
        "curves": {},
        "train_seconds": 1.0,
        "wall_seconds": 1.0,
        "samples_seen": 1,
        "started_at": f"2026-11-30T00:00:{seed:02d}",
        "finished_at": f"2026-11-30T00:00:{seed:02d}" if cell.scale == "quick" else f"2026-11-30T01:00:{seed:02d}",
        "provenance": {
            "git_sha": "0123456789abcdef0123456789abcdef01234567",
            "git_dirty": False,
            "device": "cpu",
            "threads": 1,
            "versions": {"kexue-bench": "0.1.0"},
        },
    }
