"""The ``harness`` command: list, run, report, publish, compare, show, collect.

Bad input (unknown names, malformed suites, impossible devices) ends with one line on stderr and
exit code 2; a run whose cells failed ends with exit code 1 after saving every result.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from harness.errors import HarnessError

DEFAULT_RESULTS = "results"


class _Group(click.Group):
    """Turn HarnessError (and click usage errors) into one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarnessError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: finished cells are saved; rerun the same command to resume", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="kexue-bench")
def main() -> None:
    """kexue-bench: train method x dataset x seed cells, store results, render reports."""


@main.command("list")
@click.option("--track", "track_name", default=None, help="Only this track's entries.")
@click.option("--kind", type=click.Choice(["all", "tracks", "datasets", "methods", "suites"]), default="all")
def list_cmd(track_name: str | None, kind: str) -> None:
    """List tracks, datasets, methods (with parameters and defaults) and suites."""
    from harness.registry import REGISTRY
    from harness.suite import builtin_suites

    if track_name:
        REGISTRY.get("track", track_name, where="--track")
    tracks = [e for e in REGISTRY.entries("track") if not track_name or e.name == track_name]
    if kind in ("all", "suites") and not track_name:
        click.echo("suites: " + ", ".join(builtin_suites()))
    for t in tracks:
        cls = t.load()
        if kind in ("all", "tracks"):
            click.echo(f"\ntrack {t.name} (v{t.version}): {_first_line(t.doc)}  primary={cls.primary}")
        if kind in ("all", "datasets"):
            for d in REGISTRY.entries("dataset", t.name):
                click.echo(f"  dataset {_sig(d)}  - {_first_line(d.doc)}")
        if kind in ("all", "methods"):
            for m in REGISTRY.entries("method", t.name):
                mark = " (baseline)" if m.baseline else ""
                click.echo(f"  method  {_sig(m)}{mark}  - {_first_line(m.doc)}")


def _first_line(doc: str) -> str:
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _sig(entry: Any) -> str:
    if not entry.params:
        return entry.name
    return f"{entry.name}[" + ",".join(f"{p.name}={p.default!r}" for p in entry.params.values()) + "]"


@main.command()
@click.option("--suite", "suite_name", default="quick", show_default=True, help="Built-in suite name or a TOML path.")
@click.option("--track", "tracks", multiple=True, help="Only these tracks (repeatable).")
@click.option("--method", "methods", multiple=True, help="Method selector, e.g. egr[mu=0.25] (repeatable).")
@click.option("--dataset", "datasets", multiple=True, help="Dataset selector (repeatable).")
@click.option("--seeds", type=click.IntRange(1, 1000), default=None, help="Override the number of seeds.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None, help="Cells at a time (default: cores).")
@click.option("--executor", type=click.Choice(["local", "inline", "ray"]), default="local", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, help="Results directory.")
@click.option(
    "--threads", type=click.IntRange(1, 1024), default=None, help="Torch threads per cell (default: cores // jobs)."
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None, help="Per-cell timeout in seconds.")
@click.option("--force", is_flag=True, help="Rerun cells that already have a result.")
@click.option("--retry-failed", is_flag=True, help="Rerun cells whose earlier run failed (error/timeout/oom).")
@click.option("--dry-run", is_flag=True, help="Print the cells and an estimated cost; run nothing.")
@click.option("--ray-address", default=None, help="Attach to a Ray cluster (with --executor ray).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def run(
    suite_name: str,
    tracks: tuple[str, ...],
    methods: tuple[str, ...],
    datasets: tuple[str, ...],
    seeds: int | None,
    jobs: int | None,
    executor: str,
    device: str,
    results: str,
    threads: int | None,
    timeout: float | None,
    force: bool,
    retry_failed: bool,
    dry_run: bool,
    ray_address: str | None,
    quiet: bool,
) -> None:
    """Run a suite (default: quick). Finished cells are skipped, so rerunning resumes."""
    from harness.planner import plan
    from harness.store import Store
    from harness.suite import expand, load_suite

    if executor != "ray":
        from harness.runner import resolve_device

        device = resolve_device(device)
    suite = load_suite(suite_name)
    cells = expand(suite, list(tracks) or None, list(methods) or None, list(datasets) or None, seeds)
    store = Store(results)
    p = plan(cells, store, force=force, retry_failed=retry_failed)
    cores = os.cpu_count() or 1
    jobs = jobs or (cores if executor != "inline" else 1)
    skipped_tracks = [b for b in suite.not_runnable() if not tracks or b.track in tracks]
    for b in skipped_tracks:
        click.echo(f"note: {b.track} block not runnable here: {b.reason or 'marked runnable = false'}", err=True)
    click.echo(
        f"suite {suite.name} ({suite.scale}): {p.total} cells; {len(p.cached)} cached, "
        f"{len(p.failed_kept)} failed earlier (rerun with --retry-failed), {len(p.todo)} to run",
        err=True,
    )
    costs = _cell_costs(p.todo)
    todo = _longest_first(p.todo, costs)
    if dry_run:
        _dry_run(todo, costs, jobs)
        return
    if not p.todo:
        _exit_for_failures(store, cells)
        return
    from harness.executor_factory import make_executor
    from harness.progress import Progress

    extra = {"address": ray_address} if executor == "ray" else {}
    ex = make_executor(executor, store, device=device, jobs=jobs, timeout=timeout, threads=threads, **extra)
    t0 = time.time()
    with Progress(len(p.todo), jobs, enabled=not quiet) as prog:
        ex.run(todo, prog.start, prog.finish)
    click.echo(
        f"ran {len(p.todo)} cells in {time.time() - t0:.1f}s with {jobs} job(s) on {device}; results in {results}/",
        err=True,
    )
    _exit_for_failures(store, cells)


def _cell_costs(cells: list[Any]) -> dict[str, float]:
    """Each cell's estimated cost (its track's ``cost``), computed once for ordering and --dry-run."""
    from harness.registry import REGISTRY

    tracks: dict[str, Any] = {}
    out: dict[str, float] = {}
    for cell in cells:
        if cell.track not in tracks:
            tracks[cell.track] = REGISTRY.get("track", cell.track).load()()
        try:
            out[cell.key] = float(tracks[cell.track].cost(cell))
        except Exception:  # an estimate must never stop a run
            out[cell.key] = 0.0
    return out


def _longest_first(cells: list[Any], costs: dict[str, float]) -> list[Any]:
    """Start the most expensive cells first, so that with --jobs N the last few long cells do not
    run alone while the other workers sit idle."""
    return sorted(cells, key=lambda c: costs[c.key], reverse=True)


def _dry_run(cells: list[Any], costs: dict[str, float], jobs: int) -> None:
    total = 0.0
    per_track: dict[str, tuple[int, float]] = {}
    for c in cells:
        cost = costs[c.key]
        total += cost
        n, s = per_track.get(c.track, (0, 0.0))
        per_track[c.track] = (n + 1, s + cost)
    for t, (n, s) in sorted(per_track.items()):
        click.echo(f"  {t}: {n} cells, ~{s / 60:.1f} core-minutes")
    click.echo(
        f"dry run: {len(cells)} cells to run, estimated ~{total / 60:.1f} core-minutes, "
        f"~{total / 60 / max(1, jobs):.1f} minutes with {jobs} job(s)"
    )


def _exit_for_failures(store: Any, cells: list[Any]) -> None:
    from harness.store import FAILED

    counts: dict[str, int] = {}
    for c in cells:
        s = store.status(c.track, c.key) or "missing"
        counts[s] = counts.get(s, 0) + 1
    click.echo("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), err=True)
    if any(counts.get(s) for s in FAILED + ("missing",)):
        sys.exit(1)


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", default="reports", show_default=True, help="Output directory for report.html / report.md.")
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
def report(results: str, out: str, tracks: tuple[str, ...]) -> None:
    """Render the self-contained HTML report and a Markdown summary from the results."""
    from harness.report.build import build_report

    html_path, md_path = build_report(results, out, list(tracks) or None)
    click.echo(f"wrote {html_path} and {md_path}")


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", default="leaderboards", show_default=True)
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
def publish(results: str, out: str, tracks: tuple[str, ...]) -> None:
    """Write leaderboards/<track>.md and leaderboards/<track>.csv."""
    from harness.report.build import publish_leaderboards

    for path in publish_leaderboards(results, out, list(tracks) or None):
        click.echo(f"wrote {path}")


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--leaderboards", default="leaderboards", show_default=True, help="Directory of <track>.csv or a CSV.")
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Significance after Holm correction.")
@click.option("--only-worse", is_flag=True, help="Exit 1 only when a row got worse (not when it improved).")
@click.option("--all", "show_all", is_flag=True, help="List every compared row, not only the moved ones.")
def compare(
    results: str, leaderboards: str, tracks: tuple[str, ...], alpha: float, only_worse: bool, show_all: bool
) -> None:
    """Flag leaderboard rows whose mean moved beyond seed noise (exit code 1 when any did)."""
    from harness.compare import compare as run_compare
    from harness.compare import render

    cmp = run_compare(results, leaderboards, list(tracks) or None, alpha=alpha)
    click.echo(render(cmp, show_all=show_all))
    if cmp.worse if only_worse else cmp.moved:
        sys.exit(1)


@main.command()
@click.argument("key")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--curves", is_flag=True, help="Include learning curves.")
def show(key: str, results: str, curves: bool) -> None:
    """Show one stored result by run key (a unique prefix is enough)."""
    from harness.store import Store

    if len(key) < 4 or not all(ch in "0123456789abcdef" for ch in key):
        raise HarnessError(f"run key {key!r} must be at least 4 hex characters")
    matches = Store(results).find(key)
    if not matches:
        raise HarnessError(f"no result with run key {key!r} in {results}/")
    if len(matches) > 1:
        raise HarnessError(f"run key prefix {key!r} is ambiguous: {', '.join(p.stem for p in matches[:5])}")
    try:
        rec = json.loads(Path(matches[0]).read_text())
    except ValueError as exc:
        raise HarnessError(f"result file {matches[0]} is corrupt: {exc}") from None
    if not curves:
        rec.pop("curves", None)
    click.echo(json.dumps(rec, indent=2, sort_keys=True))


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", default=None, help="Parquet file to write (default <results>/results.parquet).")
def collect(results: str, out: str | None) -> None:
    """Consolidate all result files into one parquet table."""
    from harness.store import to_parquet

    if not Path(results).exists():
        raise HarnessError(f"results directory {results}/ does not exist")
    path = to_parquet(results, out or Path(results) / "results.parquet")
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
