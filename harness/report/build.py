"""Build the report (self-contained HTML + Markdown) from results.

Why this shape: the first screen is the summary (verdict counts per track, the rule, the scale,
each track's headline claim beside the published value); then a table of contents and one section
per track in the design card's order (igr, fewshot, tokenization, imbalance, weightreg, then vae,
embdim, dialogue). Plots are small palette PNGs inlined as data URIs, so the file opens offline;
``harness report`` prints its size as written.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from harness.report.markdown import claims_markdown, leaderboard_cells, leaderboard_markdown
from harness.report.provenance import hardware_line, ordered, provenance
from harness.report.publish import decide_looks, load, publish_leaderboards, track_parts, with_q
from harness.report.summary import RULE, scale_line, summarize_track, summary_markdown

__all__ = ["build_report", "publish_leaderboards"]


def _figures(t: Any, rows: Any, cls: Any) -> list[dict[str, str]]:
    from harness.report.plots import method_bars, to_data_uri

    m = cls.metric(cls.primary)
    figures = []
    bars = method_bars(rows, m.label or m.name)
    if bars is not None:
        caption = f"{m.label or m.name} per method (95% CI; baseline in red)"
        figures.append({"caption": caption, "uri": to_data_uri(bars)})
    try:
        for caption, fig in cls().figures(t):
            figures.append({"caption": caption, "uri": to_data_uri(fig)})
    except Exception as exc:  # a broken plot must not cost the whole report
        figures.append({"caption": f"figure failed: {exc}", "uri": ""})
    return [f for f in figures if f["uri"]]


def _forest(claims: list[Any]) -> str:
    from harness.report.forest import forest_figure
    from harness.report.plots import to_data_uri

    try:
        fig = forest_figure(claims)
    except Exception:  # a broken plot must not cost the whole report
        return ""
    return to_data_uri(fig) if fig is not None else ""


def _plan_cell(plan: Any) -> str:
    """What ``harness plan`` says of an undecided row: seeds to decide and core-minutes, or why not."""
    if plan is None:
        return ""
    if plan.seeds_to_decide is None:
        return plan.reason
    minutes = f", ~{plan.core_minutes:.1f} core-min" if plan.core_minutes is not None else ""
    return f"{plan.seeds_to_decide} seeds{minutes}"


def _variance_cell(c: Any) -> str:
    """The estimate's variance from seeds beside the test set's share (per-example predictions)."""
    if not c.seed_var == c.seed_var:
        return ""
    if not c.test_var == c.test_var:
        return f"{c.seed_var:.2g} / -"
    total = c.seed_var + c.test_var
    share = f" ({c.test_var / total:.0%} test set)" if total > 0 else ""
    return f"{c.seed_var:.2g} / {c.test_var:.2g}{share}"


def _failures(t: Any) -> list[dict[str, Any]]:
    bad = t[t["status"] != "ok"]
    return [
        {
            "dataset": r["dataset"],
            "method": r["method"],
            "seed": r["seed"],
            "status": r["status"],
            "error": str(r["error"])[:300],
            "key": r["key"],
        }
        for _, r in bad.iterrows()
    ]


def build_report(
    results: str, out: str = "reports", tracks: list[str] | None = None, scale: str | None = None
) -> tuple[Path, Path]:
    """Render ``report.html`` (plots inline, opens offline) and ``report.md`` into ``out``."""
    import jinja2

    from harness.sequential import design as designs
    from harness.sequential.cells import CellIndex
    from harness.sequential.plan import plan_for_claims

    table, classes, scale = load(results, tracks, scale)
    looks, index = decide_looks(results), CellIndex.read(results)
    design = designs.load(results)
    by_name = {cls.name: cls for cls in classes}
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    ctx_tracks, md_tracks, summaries, provs = [], [], [], []
    parts = {name: track_parts(table, cls, looks) for name, cls in by_name.items()}
    controlled = with_q([c for _, _, claims in parts.values() for c in claims])
    for name in ordered(list(by_name)):
        cls = by_name[name]
        t, rows, claims = parts[name]
        plans = plan_for_claims(name, claims, index, design)
        prov = provenance(results, table, name)
        provs.append(prov)
        summaries.append(summarize_track(name, claims, scale))
        m = cls.metric(cls.primary)
        headers, tables = leaderboard_cells(rows, cls)
        baselines = {(r.dataset, r.method) for r in rows if r.is_baseline}
        failures = _failures(t)
        ctx_tracks.append(
            {
                "name": name,
                "doc": (cls.__doc__ or "").strip(),
                "provenance": [line.removeprefix("- ") for line in prov.lines()],  # the template makes the list
                "status_counts": sorted(t["status"].value_counts().to_dict().items()),
                "primary_label": m.label or m.name,
                "direction": "higher is better" if m.higher_is_better else "lower is better",
                "baseline": next((r.method for r in rows if r.is_baseline), "(missing)"),
                "claims": [
                    {"c": c, "plan": _plan_cell(plans.get(c.row_id)), "variance": _variance_cell(c)} for c in claims
                ],
                "forest": _forest(claims),
                "headers": headers,
                "datasets": [
                    {"name": ds, "rows": [{"baseline": (ds, row[1]) in baselines, "cells": row} for row in tab]}
                    for ds, tab in tables
                ],
                "figures": _figures(t, rows, cls),
                "failures": failures,
            }
        )
        md_tracks += [f"## Track `{name}`", "", *prov.lines(), "", "### Claims", "", claims_markdown(claims)]
        md_tracks += ["### Leaderboard", "", leaderboard_markdown(rows, cls, heading_level=4)]
        if failures:
            md_tracks += ["### Cells that did not finish", ""]
            md_tracks += [
                f"- {f['dataset']} / {f['method']} / seed {f['seed']}: **{f['status']}** {f['error']}" for f in failures
            ]
            md_tracks.append("")
    scale_lines = [scale_line(scale, provs, hardware_line())]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"), autoescape=jinja2.select_autoescape(["html"])
    )
    html = env.get_template("report.html").render(
        title="kexue-bench report",
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        results=results,
        n_records=len(table),
        rule=RULE,
        controlled=controlled,
        scale_lines=scale_lines,
        summaries=summaries,
        tracks=ctx_tracks,
    )
    md = ["# kexue-bench report", "", f"Results: `{results}` ({len(table)} stored cells, scale `{scale}`).", ""]
    md += summary_markdown(summaries, scale_lines, controlled)
    md += ["## Contents", "", *[f"- [{s.name}](#track-{s.name})" for s in summaries], ""]
    html_path, md_path = outdir / "report.html", outdir / "report.md"
    html_path.write_text(html, encoding="utf-8")
    md_path.write_text("\n".join(md + md_tracks), encoding="utf-8")
    return html_path, md_path
