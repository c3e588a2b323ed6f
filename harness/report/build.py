"""Build the report (self-contained HTML + Markdown) and the published leaderboards from results."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.registry import REGISTRY
from harness.report.leaderboard import Row, track_rows
from harness.report.markdown import claims_markdown, leaderboard_cells, leaderboard_markdown, leaderboard_records
from harness.store import collect


def _load(results: str, tracks: list[str] | None) -> tuple[Any, list[Any]]:
    if not Path(results).exists():
        raise HarnessError(f"results directory {results}/ does not exist; run `harness run` first")
    table = collect(results)
    if not len(table):
        raise HarnessError(f"no readable results in {results}/")
    present = sorted(set(table["track"]))
    for t in tracks or []:
        REGISTRY.get("track", t, where="--track")
        if t not in present:
            raise HarnessError(f"--track {t!r}: no results for it in {results}/ (found: {', '.join(present)})")
    names = [t for t in present if not tracks or t in tracks]
    classes = []
    for name in names:
        try:
            classes.append(REGISTRY.get("track", name).load())
        except HarnessError:
            continue  # results of a track that is no longer registered are left out
    return table, classes


def _track_parts(table: Any, track_cls: Any) -> tuple[Any, list[Row], list[Any]]:
    t = table[table["track"] == track_cls.name]
    rows = track_rows(t, track_cls)
    claims = [res for claim in track_cls().claims() for res in claim.evaluate(t, track_cls)]
    return t, rows, claims


def publish_leaderboards(results: str, out: str = "leaderboards", tracks: list[str] | None = None) -> list[Path]:
    """Write ``<out>/<track>.md`` and ``<out>/<track>.csv`` for every track with results."""
    import pandas as pd

    table, classes = _load(results, tracks)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in classes:
        _, rows, claims = _track_parts(table, cls)
        md = [
            f"# Leaderboard: `{cls.name}`",
            "",
            (cls.__doc__ or "").strip(),
            "",
            f"Reproduce: `harness run --suite <suite> --track {cls.name}` then `harness publish`.",
            "",
            leaderboard_markdown(rows, cls),
            "## Claims",
            "",
            claims_markdown(claims),
        ]
        md_path, csv_path = outdir / f"{cls.name}.md", outdir / f"{cls.name}.csv"
        md_path.write_text("\n".join(md), encoding="utf-8")
        pd.DataFrame(leaderboard_records(rows, cls)).to_csv(csv_path, index=False)
        written += [md_path, csv_path]
    return written


def build_report(results: str, out: str = "reports", tracks: list[str] | None = None) -> tuple[Path, Path]:
    """Render ``report.html`` (plots inline, opens offline) and ``report.md`` into ``out``."""
    import jinja2

    from harness.report.plots import method_bars, to_data_uri

    table, classes = _load(results, tracks)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    ctx_tracks, md = [], ["# kexue-bench report", "", f"Results: `{results}` ({len(table)} stored cells).", ""]
    for cls in classes:
        t, rows, claims = _track_parts(table, cls)
        m = cls.metric(cls.primary)
        figures = []
        bars = method_bars(rows, m.label or m.name)
        if bars is not None:
            figures.append(
                {"caption": f"{m.label or m.name} per method (95% CI; baseline in red)", "uri": to_data_uri(bars)}
            )
        try:
            for caption, fig in cls().figures(t):
                figures.append({"caption": caption, "uri": to_data_uri(fig)})
        except Exception as exc:  # a broken plot must not cost the whole report
            figures.append({"caption": f"figure failed: {exc}", "uri": ""})
        headers, tables = leaderboard_cells(rows, cls)
        baselines = {(r.dataset, r.method) for r in rows if r.is_baseline}
        datasets = [
            {"name": ds, "rows": [{"baseline": (ds, row[1]) in baselines, "cells": row} for row in table]}
            for ds, table in tables
        ]
        bad = t[t["status"] != "ok"]
        failures = [
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
        base = next((r.method for r in rows if r.is_baseline), "(missing)")
        ctx_tracks.append(
            {
                "name": cls.name,
                "doc": (cls.__doc__ or "").strip(),
                "status_counts": sorted(t["status"].value_counts().to_dict().items()),
                "primary_label": m.label or m.name,
                "direction": "higher is better" if m.higher_is_better else "lower is better",
                "baseline": base,
                "claims": claims,
                "headers": headers,
                "datasets": datasets,
                "figures": [f for f in figures if f["uri"]],
                "failures": failures,
            }
        )
        md += [
            f"## Track `{cls.name}`",
            "",
            "### Claims",
            "",
            claims_markdown(claims),
            "### Leaderboard",
            "",
            leaderboard_markdown(rows, cls, heading_level=4),
        ]
        if failures:
            md += ["### Cells that did not finish", ""]
            md += [
                f"- {f['dataset']} / {f['method']} / seed {f['seed']}: **{f['status']}** {f['error']}" for f in failures
            ]
            md.append("")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"), autoescape=jinja2.select_autoescape(["html"])
    )
    html = env.get_template("report.html").render(
        title="kexue-bench report",
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        results=results,
        n_records=len(table),
        tracks=ctx_tracks,
    )
    html_path, md_path = outdir / "report.html", outdir / "report.md"
    html_path.write_text(html, encoding="utf-8")
    md_path.write_text("\n".join(md), encoding="utf-8")
    return html_path, md_path
