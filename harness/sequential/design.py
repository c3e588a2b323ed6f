"""The ``--decide`` design: written to the results directory before the first added seed, never changed.

What it fixes (and what a second call may not change): the maximum seeds per row, the look
schedule (every ``look_every`` seeds from the seeds a row had when the design was written, the
last look at ``max_seeds``), the level (family-wise 0.05 per claim, one-sided 0.025 / (rows open)
per test), the spending function of the decision (Lan-DeMets O'Brien-Fleming type), the boundary
method (``method``: exact t-scale boundaries, t_boundaries.METHOD) and the futility rule (the
one-sided test "smaller than the smallest effect of interest" with the same spending, non-binding:
the decision boundaries ignore it, so stopping or continuing after it never inflates their error).
A design written under another boundary method (the files before ``method`` existed mapped z
boundaries through each look's t, which over-spends at 3-12 seeds) is never continued: its looks
would mix two procedures.
Each row is registered with its kind, thresholds and first seeds, so a later change of a claim's
smallest effect or margin cannot silently re-test old looks. A later ``--decide`` call over other
tracks registers their rows too (before any seed is added to them): a row's design is fixed before
its first added seed and never changes; rows are only ever added to the file, never altered.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes
from harness.errors import HarnessError

FOLDER = ".decide"
DESIGN_FILE = "design.json"
FUTILITY = "non-binding: one-sided 'smaller than the smallest effect of interest', same spending"
LEGACY_METHOD = "z-mapped"  # design files without a ``method``: z boundaries mapped through each look's t


@dataclass(frozen=True)
class DesignSettings:
    """What the design fixes for every row (``harness run --decide`` options)."""

    max_seeds: int = 12
    look_every: int = 3
    alpha: float = 0.05
    spending: str = "obf"

    def check(self) -> None:
        if self.max_seeds < 3:
            raise HarnessError(f"--max-seeds must be at least 3, got {self.max_seeds}")
        if self.look_every < 1:
            raise HarnessError(f"--look-every must be at least 1, got {self.look_every}")
        if self.spending not in ("obf", "pocock"):
            raise HarnessError(f"spending must be obf or pocock, got {self.spending!r}")

    def schedule(self, n0: int) -> list[int]:
        """Seed counts of a row's looks: n0, n0 + look_every, ..., max_seeds (a last step shorter
        than half a step is merged into the final look)."""
        if n0 >= self.max_seeds:
            return [n0]
        looks = list(range(n0, self.max_seeds, self.look_every))
        if len(looks) > 1 and self.max_seeds - looks[-1] < self.look_every / 2:
            looks.pop()
        return looks + [self.max_seeds]


@dataclass
class DesignRow:
    """One claim row as registered: enough to recognise it and to refuse a changed threshold."""

    row_id: str
    track: str
    claim: str
    dataset: str
    kind: str
    n0: int
    schedule: list[int]
    smallest_effect: float | None = None
    margin: float | None = None
    band: float | None = None

    def thresholds(self) -> tuple[float | None, float | None, float | None]:
        return self.smallest_effect, self.margin, self.band

    def next_look(self, after: int) -> int | None:
        """The first look of the schedule beyond ``after`` seeds (None past the last look)."""
        return next((n for n in self.schedule if n > after), None)


@dataclass
class Design:
    settings: DesignSettings
    rows: dict[str, DesignRow] = field(default_factory=dict)
    created: str = ""
    futility: str = FUTILITY
    scale: str = ""  # the results' scale the design's rows come from
    method: str = ""  # the boundary method (t_boundaries.METHOD when written)

    def to_json(self) -> str:
        data = {
            "settings": asdict(self.settings),
            "method": self.method,
            "futility": self.futility,
            "created": self.created,
            "scale": self.scale,
            "rows": [asdict(r) for r in self.rows.values()],
        }
        return json.dumps(data, indent=1, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Design:
        data = json.loads(text)
        rows = {r["row_id"]: DesignRow(**r) for r in data["rows"]}
        return cls(
            DesignSettings(**data["settings"]),
            rows,
            data.get("created", ""),
            data.get("futility", FUTILITY),
            data.get("scale", ""),
            data.get("method", LEGACY_METHOD),
        )


def _finite(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def register(settings: DesignSettings, row_id: str, track: str, claim: str, dataset: str, sample: Any) -> DesignRow:
    """A design row for a testable row whose sample has ``sample.n`` >= 2 seeds now."""
    return DesignRow(
        row_id,
        track,
        claim,
        dataset,
        sample.kind,
        sample.n,
        settings.schedule(sample.n),
        _finite(sample.smallest_effect),
        _finite(sample.margin),
        _finite(sample.band),
    )


def design_path(results: str | Path) -> Path:
    return Path(results) / FOLDER / DESIGN_FILE


def load(results: str | Path) -> Design | None:
    """The design of ``results`` (None when it has none); a corrupt file is a one-line error."""
    path = design_path(results)
    if not path.exists():
        return None
    try:
        return Design.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path} is unreadable ({exc}); it is the record of a --decide design: restore it") from None


def write_new(results: str | Path, design: Design) -> Path:
    """Write the design once (refuses to replace one)."""
    path = design_path(results)
    if path.exists():
        raise HarnessError(f"{path} exists: a design is never rewritten")
    from harness.sequential.t_boundaries import METHOD

    design.created = design.created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    design.method = design.method or METHOD
    atomic_write_bytes(path, design.to_json().encode())
    return path


def check_method(design: Design, results: str | Path) -> None:
    """Refuse, in one line, to continue a design written under another boundary method."""
    from harness.sequential.t_boundaries import METHOD

    if design.method == METHOD:
        return
    path = design_path(results)
    raise HarnessError(
        f"{path} was written under the boundary method {design.method!r}, not {METHOD!r} (exact t-scale "
        f"boundaries): its looks are never continued under other boundaries; start a new design with another "
        f"--results directory (or move {path.parent} aside), or read this one with `harness report`"
    )


def add_rows(results: str | Path, design: Design, rows: list[DesignRow]) -> None:
    """Register rows not in the design yet (a later call over other tracks); registered rows stay as
    they were, byte for byte."""
    path = design_path(results)
    before = Design.from_json(path.read_text(encoding="utf-8"))
    for row in rows:
        if row.row_id in design.rows:
            raise HarnessError(
                f"claim {row.claim!r} ({row.dataset}) is registered already: rows are never re-registered"
            )
        design.rows[row.row_id] = row
    if any(design.rows[rid] != row for rid, row in before.rows.items()):  # pragma: no cover - a guard
        raise HarnessError(f"{path}: a registered row would change; refusing")
    atomic_write_bytes(path, design.to_json().encode())


def check_unchanged(design: Design, given: dict[str, Any], results: str | Path) -> None:
    """Refuse, in one line, design settings given now that differ from the written design's."""
    current = asdict(design.settings)
    changed = [f"{k}={v!r} (design: {current[k]!r})" for k, v in given.items() if v is not None and current[k] != v]
    if changed:
        raise HarnessError(
            f"{design_path(results)} fixes the design; refusing changed settings: {', '.join(changed)} "
            "(use another --results directory for another design)"
        )


def check_thresholds(design: Design, row_id: str, sample: Any) -> None:
    """Refuse a row whose claim now declares another smallest effect, margin or band than registered."""
    row = design.rows.get(row_id)
    if row is None:
        return
    now = (_finite(sample.smallest_effect), _finite(sample.margin), _finite(sample.band))
    if now != row.thresholds():
        raise HarnessError(
            f"claim {row.claim!r} ({row.dataset}) changed its thresholds since the --decide design "
            f"({row.thresholds()} -> {now}); a design's rows are never re-tested against new thresholds"
        )
