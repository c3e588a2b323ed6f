"""Where a leaderboard comes from: suite/scale, seeds, harness version, git commit, hardware.

Why: a table without its origin cannot be checked or reproduced, and a smoke-scale table
published over a quick-scale one looks just like it. Everything here is read from the stored
result records (each carries its cell and the provenance of the run that produced it), so the
description matches the numbers, not the machine that happens to render them.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# The scale whose leaderboards sit at the top of leaderboards/ (the numbers the README's at-a-glance block quotes);
# every other scale is published into a sub-folder named after it, so they never replace each other.
PUBLISHED_SCALE = "quick"
TRACK_ORDER = ("igr", "fewshot", "tokenization", "imbalance", "weightreg", "vae", "embdim", "dialogue")


@dataclass
class Provenance:
    track: str
    scale: str
    seeds: list[int] = field(default_factory=list)  # distinct seed counts per (dataset, method), sorted
    commits: list[str] = field(default_factory=list)
    dirty: bool = False
    versions: list[str] = field(default_factory=list)  # kexue-bench versions
    devices: list[str] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the track's own lines (Track.provenance_notes)

    @property
    def seeds_text(self) -> str:
        if not self.seeds:
            return "no seeds"
        lo, hi = min(self.seeds), max(self.seeds)
        return f"{lo} seeds" if lo == hi else f"{lo}-{hi} seeds (per dataset and method)"

    @property
    def commit_text(self) -> str:
        text = ", ".join(c[:12] for c in self.commits) or "unknown"
        return text + (" (with uncommitted changes)" if self.dirty else "")

    def reproduce(self) -> str:
        """The exact commands that rebuild this leaderboard from scratch."""
        device = " --device cuda" if any(d.startswith("cuda") for d in self.devices) else ""
        return f"harness run --suite {self.scale} --track {self.track}{device} && harness publish --track {self.track}"

    def lines(self) -> list[str]:
        """The Markdown block a leaderboard starts with."""
        return [
            f"- Suite / scale: `{self.scale}`; {self.seeds_text}",
            f"- Harness: kexue-bench {', '.join(self.versions) or 'unknown'}, git commit {self.commit_text}",
            f"- Device: {', '.join(self.devices) or 'unknown'}, "
            f"{', '.join(str(t) for t in self.threads) or '?'} torch thread(s) per cell",
            *(f"- {note}" for note in self.notes),
            f"- Reproduce: `{self.reproduce()}`",
        ]

    def record(self) -> dict[str, Any]:
        """Columns added to every row of ``<track>.csv``."""
        return {
            "suite": self.scale,
            "scale": self.scale,
            "seeds": self.seeds_text,
            "harness_version": ";".join(self.versions),
            "git_commit": ";".join(self.commits) + ("+dirty" if self.dirty else ""),
            "reproduce": self.reproduce(),
        }


def provenance(results: str, table: Any, track: str) -> Provenance:
    """The provenance of ``track``'s rows of ``table`` (records read from ``results``)."""
    from harness.engine.store import Store

    t = table[table["track"] == track]
    scales = sorted(set(t["scale"])) if len(t) else []
    keys = set(t["key"]) if len(t) else set()
    commits: Counter = Counter()
    versions, devices, threads, dirty = set(), set(), set(), False
    settings: dict[str, dict] = {}
    for rec in Store(results).records(warn=False):
        if rec.get("key") not in keys:
            continue
        block = (rec.get("cell") or {}).get("settings") or {}
        settings.setdefault(repr(sorted(block.items())), block)
        prov = rec.get("provenance") or {}
        if prov.get("git_sha"):
            commits[prov["git_sha"]] += 1
        dirty = dirty or bool(prov.get("git_dirty"))
        versions.add(str((prov.get("versions") or {}).get("kexue-bench", "unknown")))
        devices.add(_device_text(prov))
        if prov.get("threads"):
            threads.add(int(prov["threads"]))
    seeds = sorted(set(t.groupby(["dataset", "method"])["seed"].nunique())) if len(t) else []
    return Provenance(
        track,
        "/".join(scales) or "unknown",
        [int(s) for s in seeds],
        [c for c, _ in commits.most_common()],
        dirty,
        sorted(versions),
        sorted(devices),
        sorted(threads),
        _track_notes(track, list(settings.values())),
    )


def _device_text(prov: dict[str, Any]) -> str:
    """The device a record's training ran on, with the GPU's name and a precision other than fp32."""
    text = str(prov.get("device", "unknown"))
    gpu = prov.get("gpu") or {}
    if gpu.get("name") and text.startswith("cuda"):
        text += f" ({gpu['name']})"
    if prov.get("precision") and prov["precision"] != "fp32":
        text += f", {prov['precision']}"
    return text


def _track_notes(track: str, settings: list[dict]) -> list[str]:
    """The track's own provenance lines; a track that cannot be loaded here adds none."""
    from harness.registry import REGISTRY

    try:
        return list(REGISTRY.get("track", track).load()().provenance_notes(settings))
    except Exception:
        return []


def hardware_line() -> str:
    """The machine rendering the report (the results may come from elsewhere: see each track)."""
    return f"{os.cpu_count() or '?'} CPU cores on the machine that rendered this report"


def ordered(names: list[str]) -> list[str]:
    """Tracks in report order: the design card's five first, then vae, embdim, dialogue, then others."""
    rank = {n: i for i, n in enumerate(TRACK_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))
