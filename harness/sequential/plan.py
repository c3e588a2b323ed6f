"""``harness plan``: for every undecided testable claim row, the seeds and core-minutes that would decide it.

Read-only and torch-free, like ``report``: it evaluates the claims over the results (sequential
rows of a ``--decide`` design with their looks), prices an added seed from the measured times of
the row's own cells, and sums per track without counting a cell twice when rows share it (a
baseline shared by several comparisons runs once per seed).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from harness.claims import INCONCLUSIVE
from harness.sequential import design as designs
from harness.sequential.cells import CellIndex
from harness.sequential.power import Need, need

EXAMPLES_REASON = "tested over test examples (deterministic cells): seeds cannot decide it, more test examples can"
LAST_LOOK_REASON = "at its last look ({n} seeds, the --decide design's maximum): no more seeds in this design"


@dataclass
class PlanRow:
    track: str
    claim: str
    dataset: str
    kind: str
    n: int | None
    mean: float | None
    sd: float | None
    power_now: float | None
    seeds_to_decide: int | None
    core_minutes: float | None
    reason: str = ""
    planned_against: str = ""  # "smallest effect 0.01", "margin 0.02", ...
    alpha: float | None = None  # Holm's worst case: the claim's level / its undecided rows
    sd_planned: float | None = None  # the sd's upper 80% confidence bound
    templates: tuple[str, ...] = ()


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def plan_rows(results: str | Path, tracks: list[str] | None = None, scale: str | None = None) -> list[PlanRow]:
    """One PlanRow per undecided testable row of the results."""
    from harness.report.publish import evaluate_claims, load
    from harness.sequential.readout import design_reading

    table, classes, _ = load(str(results), tracks, scale)
    design = designs.load(results)
    looks = design_reading(results)
    index = CellIndex.read(results)
    out: list[PlanRow] = []
    for cls in classes:
        claims = evaluate_claims(table[table["track"] == cls.name], cls, looks)
        out += plan_for_claims(cls.name, claims, index, design).values()
    return out


def plan_for_claims(
    track: str, claims: list[Any], index: CellIndex, design: designs.Design | None = None
) -> dict[str, PlanRow]:
    """By row id: the plan of every undecided testable row among one track's evaluated claim rows
    (rows registered in a ``--decide`` design are planned within its look schedule)."""
    undecided = [r for r in claims if r.verdict == INCONCLUSIVE and (r.sample is None or r.sample.n >= 2)]
    open_rows: dict[str, int] = {}
    for r in undecided:
        open_rows[r.family] = open_rows.get(r.family, 0) + 1
    registered = design.rows if design is not None else {}
    return {r.row_id: _plan_row(track, r, open_rows[r.family], index, registered.get(r.row_id)) for r in undecided}


def _plan_row(track: str, r: Any, m_open: int, index: CellIndex, registered: designs.DesignRow | None) -> PlanRow:
    s = r.sample
    if s is None:
        return PlanRow(track, r.claim, r.dataset, r.kind, None, None, None, None, None, None, EXAMPLES_REASON)
    nd = _within_design(need(s, m_open), s.n, registered)
    templates = index.templates(s.keys)
    per_seed = sum(t.seconds_per_seed for t in templates.values())
    minutes = None
    if nd.seeds_to_decide is not None:
        added = sum(max(0, nd.seeds_to_decide - t.seeds) * t.seconds_per_seed for t in templates.values())
        minutes = added / 60.0 if per_seed > 0 or added == 0 else None
    return PlanRow(
        track,
        r.claim,
        r.dataset,
        r.kind,
        s.n,
        _num(s.mean),
        _num(s.sd),
        _num(nd.power_now),
        nd.seeds_to_decide,
        minutes,
        nd.reason,
        f"{nd.effect_kind} {nd.effect:.3g}",
        nd.alpha,
        _num(nd.sd_planned),
        tuple(templates),
    )


def _within_design(nd: Need, n: int, registered: designs.DesignRow | None) -> Need:
    """A row registered in a ``--decide`` design is read at its looks: its next look, not a fixed-n
    count at or below the seeds it has (the boundary, not the power, is what it has not crossed),
    and nothing past the design's last look."""
    if registered is None or nd.seeds_to_decide is None:
        return nd
    next_look = registered.next_look(n)
    if next_look is None:
        reason = LAST_LOOK_REASON.format(n=n)
        if nd.seeds_to_decide > n:
            reason += f" (a new fixed-n test at 80% power: {nd.seeds_to_decide} seeds)"
        return replace(nd, seeds_to_decide=None, reason=reason)
    if nd.seeds_to_decide <= n:
        return replace(nd, seeds_to_decide=next_look)
    return nd


def totals(rows: list[PlanRow], index: CellIndex) -> dict[str, float]:
    """Core-minutes per track (and ``all``) to give every template the most seeds any of its rows needs."""
    need_by_template: dict[str, tuple[str, int]] = {}
    for r in rows:
        if r.seeds_to_decide is None:
            continue
        for tid in r.templates:
            _, n = need_by_template.get(tid, (r.track, 0))
            need_by_template[tid] = (r.track, max(n, r.seeds_to_decide))
    out: dict[str, float] = {}
    for tid, (track, n) in need_by_template.items():
        t = index.template(tid)
        out[track] = out.get(track, 0.0) + max(0, n - t.seeds) * t.seconds_per_seed / 60.0
    out["all"] = sum(out.values())
    return out


def as_json(rows: list[PlanRow]) -> str:
    """One object per undecided testable row (null seeds and minutes with a reason where seeds cannot decide)."""
    keep = [{k: v for k, v in asdict(r).items() if k != "templates"} for r in rows]
    return json.dumps(keep, indent=1, ensure_ascii=False)


def render(rows: list[PlanRow], sums: dict[str, float]) -> str:
    """The plan as a table, then the totals."""
    from tabulate import tabulate

    def f(x: Any, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    body = [
        [
            r.track,
            r.claim[:70],
            r.dataset[:40],
            r.n if r.n is not None else "-",
            f(r.mean, ".4g"),
            f(r.sd, ".3g"),
            f(r.power_now, ".2f"),
            r.seeds_to_decide if r.seeds_to_decide is not None else "-",
            f(r.core_minutes, ".1f"),
            r.reason or r.planned_against,
        ]
        for r in rows
    ]
    headers = ["track", "claim", "dataset", "n", "mean Δ", "sd", "power now", "seeds to decide", "core-min", "against"]
    lines = [tabulate(body, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines += [f"{track}: ~{m:.1f} core-minutes" for track, m in sorted(sums.items()) if track != "all"]
    lines.append(
        f"all tracks: ~{sums.get('all', 0.0):.1f} core-minutes for {len(rows)} undecided rows "
        "(80% power at Holm's worst case alpha, sd at its upper 80% bound; shared cells counted once)"
    )
    return "\n".join(lines)
