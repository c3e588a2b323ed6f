"""The ``harness`` command: list, run (and run --decide), plan, report, publish, compare, show, collect.

Bad input (unknown names, malformed suites, impossible devices) ends with one line on stderr and
exit code 2; a run whose cells failed ends with exit code 1 after saving every result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
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
        if kind in ("all", "tracks"):
            click.echo(f"\ntrack {t.name} (v{t.version}): {_first_line(t.doc)}  primary={t.meta.get('primary', '')}")
            if t.params:  # a track's parameters are its Settings: what a suite block may override
                click.echo("  settings " + ", ".join(f"{p.name}={p.default!r}" for p in t.params.values()))
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
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option(
    "--precision",
    default="fp32",
    show_default=True,
    help="fp32 | tf32 (NVIDIA GPUs, compute capability 8.0+) | bf16 (autocast), optionally +channels-last "
    "(convolutional paper networks); part of the run key unless fp32.",
)
@click.option("--results", default=DEFAULT_RESULTS, show_default=True, help="Results directory.")
@click.option(
    "--threads", type=click.IntRange(1, 1024), default=None, help="Torch threads per cell (default: cores // jobs)."
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None, help="Per-cell timeout in seconds.")
@click.option("--force", is_flag=True, help="Rerun cells that already have a result.")
@click.option("--retry-failed", is_flag=True, help="Rerun cells whose earlier run failed (error/timeout/oom).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the cells to run, their estimated time and memory; run nothing (imports no method code).",
)
@click.option("--ray-address", default=None, help="Attach to a Ray cluster (with --executor ray).")
@click.option(
    "--group",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="Train cells as batched groups: auto (on a GPU; on a CPU where the track says it pays), on, off.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option(
    "--decide",
    is_flag=True,
    help="After the suite, add seeds to undecided claim rows under a sequential design (docs/plan-and-decide.md).",
)
@click.option("--max-seeds", type=click.IntRange(3, 1000), default=None, help="--decide: seeds per row at most (12).")
@click.option("--look-every", type=click.IntRange(1, 100), default=None, help="--decide: seeds between looks (3).")
@click.option(
    "--budget",
    type=click.FloatRange(min=0),
    default=None,
    help="--decide: core-minutes all rounds may spend (default: what the suite's own cells cost).",
)
def run(
    suite_name: str,
    tracks: tuple[str, ...],
    methods: tuple[str, ...],
    datasets: tuple[str, ...],
    seeds: int | None,
    jobs: int | None,
    executor: str,
    device: str,
    precision: str,
    results: str,
    threads: int | None,
    timeout: float | None,
    force: bool,
    retry_failed: bool,
    dry_run: bool,
    ray_address: str | None,
    group: str,
    quiet: bool,
    decide: bool,
    max_seeds: int | None,
    look_every: int | None,
    budget: float | None,
) -> None:
    """Run a suite (default: quick). Finished cells are skipped, so rerunning resumes. With --decide,
    then add seeds where a claim row is still undecided, under a design fixed before the first of them."""
    if os.environ.get("KEXUE_BENCH_FAKE_CUDA", "") not in ("", "0"):  # a pretend GPU (harness.engine.device_guard)
        from harness.engine.device_guard import fake_cuda

        click.get_current_context().with_resource(fake_cuda())
    from harness.engine.batch import ExecOptions, plan_groups, run_batch
    from harness.engine.estimate import estimate
    from harness.engine.planner import plan
    from harness.engine.precision import check_precision_name
    from harness.engine.runner import check_device_name
    from harness.engine.store import Store
    from harness.suite import check_claims, check_methods, expand, load_suite, with_precision

    check_device_name(device)
    check_precision_name(precision)
    if not decide and (max_seeds or look_every or budget is not None):
        raise HarnessError("--max-seeds, --look-every and --budget go with --decide")
    if decide:
        from harness.sequential.decide_run import check_options

        check_options(results, max_seeds, look_every)
    suite = load_suite(suite_name)

    def select(s: Any) -> list[Any]:
        return with_precision(
            expand(s, list(tracks) or None, list(methods) or None, list(datasets) or None, seeds), precision
        )

    if dry_run:  # every block: runnable or exactly what it misses, its cost (GPU-hours with --device cuda)
        from harness.data.download import no_requests
        from harness.engine.estimate import block_lines

        click.get_current_context().with_resource(no_requests("a dry run makes no request"))
        for line in block_lines(suite, select, device):
            click.echo(line)
    cells = select(suite)
    check_claims({c.track for c in cells})
    store = Store(results)
    p = plan(cells, store, force=force, retry_failed=retry_failed)
    cores = os.cpu_count() or 1
    given_jobs = jobs
    jobs = jobs or (cores if executor != "inline" else 1)
    est = estimate(p.todo)
    gpu_lines: list[str] = []
    runs_here = bool(p.todo or decide) and not dry_run and executor != "ray"
    if runs_here:
        from harness.engine.precision import check_precision
        from harness.engine.runner import resolve_device

        device = resolve_device(device)  # imports torch: only when cells will run here
        check_precision(precision, device)
    opts = ExecOptions(executor, device, jobs, timeout, threads, ray_address, quiet, group)
    todo = plan_groups(p.todo, est, opts, runs_here)  # a track rejecting a cell: one line before any cell runs
    if runs_here and device.startswith("cuda"):  # refuses a cell no GPU holds before anything else is said
        from harness.engine.gpus import plan_gpu_run

        jobs, gpu_lines = plan_gpu_run(todo, est, device, given_jobs or (1 if executor == "inline" else None), cores)
        opts = dataclasses.replace(opts, jobs=jobs)
    skipped_tracks = [b for b in suite.not_runnable() if not tracks or b.track in tracks]
    for b in skipped_tracks:
        click.echo(f"note: {b.track} block not runnable here: {b.reason or 'marked runnable = false'}", err=True)
    click.echo(
        f"suite {suite.name} ({suite.scale}): {p.total} cells; {len(p.cached)} cached, "
        f"{len(p.failed_kept)} failed earlier (rerun with --retry-failed), {len(p.todo)} to run",
        err=True,
    )
    if dry_run:  # names, parameters and settings are checked; a method's own checks need its code
        for line in est.lines(jobs, "dry run"):
            click.echo(line)
        return
    check_methods(p.todo)  # imports the methods' code (maybe torch): only for cells that will run
    for line in gpu_lines:
        click.echo(line, err=True)
    if p.todo:
        run_batch(todo, est, store, opts)
    _store_exact_checks(results, cells, quiet)
    if decide:
        from harness.sequential.decide_run import run_decide

        run_decide(
            results,
            sorted({c.track for c in cells}),
            suite.scale,
            opts,
            max_seeds,
            look_every,
            budget,
            [c.key for c in cells],
        )
    _exit_for_failures(store, cells, p)


def _store_exact_checks(results: str, cells: list[Any], quiet: bool) -> None:
    """Compute (when the code changed) and store the exact claims of the run's tracks, so that
    ``report`` and ``publish`` read them instead of running them (some need torch)."""
    from harness.exact_results import refresh
    from harness.registry import current_fingerprint

    done = refresh(results, sorted({c.track for c in cells}), current_fingerprint())
    if done and not quiet:
        click.echo(f"stored the exact checks of {', '.join(done)} in {results}/.exact/", err=True)


def _exit_for_failures(store: Any, cells: list[Any], p: Any) -> None:
    """Print the status counts; exit 1 when any cell failed or is missing. Only the cells that ran
    are read again (the plan read the others)."""
    from harness.engine.store import FAILED

    ran = {c.key for c in p.todo}
    counts: dict[str, int] = {}
    for c in cells:
        s = (store.status(c.track, c.key) if c.key in ran else p.status.get(c.key)) or "missing"
        counts[s] = counts.get(s, 0) + 1
    click.echo("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), err=True)
    if any(counts.get(s) for s in FAILED + ("missing",)):
        sys.exit(1)


@main.command("plan")
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
@click.option("--scale", default=None, help="Results of this scale (default: the scale of the newest cell).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per undecided testable row.")
def plan_cmd(results: str, tracks: tuple[str, ...], scale: str | None, as_json: bool) -> None:
    """Seeds and core-minutes that would decide each undecided claim row (reads results; runs nothing)."""
    from harness.exact_results import reading
    from harness.sequential import plan as planning
    from harness.sequential.cells import CellIndex

    with reading(results):
        rows = planning.plan_rows(results, list(tracks) or None, scale)
    if as_json:
        click.echo(planning.as_json(rows))
        return
    click.echo(planning.render(rows, planning.totals(rows, CellIndex.read(results))))


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", default="reports", show_default=True, help="Output directory for report.html / report.md.")
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
@click.option("--scale", default=None, help="Results of this scale (default: the scale of the newest cell).")
def report(results: str, out: str, tracks: tuple[str, ...], scale: str | None) -> None:
    """Render the self-contained HTML report and a Markdown summary from the results."""
    from harness.exact_results import reading
    from harness.report.build import build_report

    with reading(results):  # exact claims come from the results (computed by harness run)
        html_path, md_path = build_report(results, out, list(tracks) or None, scale)
    click.echo(f"wrote {html_path} ({_megabytes(html_path)}) and {md_path} ({_megabytes(md_path)})")


def _megabytes(path: Any) -> str:
    """A written file's size as the docs state sizes (decimal megabytes), read from the file."""
    return f"{Path(path).stat().st_size / 1e6:.2f} MB"


@main.command()
@click.option("--results", default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", default="leaderboards", show_default=True)
@click.option("--track", "tracks", multiple=True, help="Only these tracks.")
@click.option("--scale", default=None, help="Results of this scale (default: the scale of the newest cell).")
@click.option("--format", "formats", multiple=True, type=click.Choice(["md", "latex"]), help="Also LaTeX (booktabs).")
@click.option("--force", is_flag=True, help="Replace a leaderboard of another scale in --out.")
@click.option("--readme", default=None, help="Also rewrite this README's at-a-glance block from --out.")
def publish(
    results: str, out: str, tracks: tuple, scale: str | None, formats: tuple, force: bool, readme: str | None
) -> None:
    """Write <track>.md, .csv, .seeds.csv and .claims.csv (and .tex) and summary.md under --out; the
    quick scale at its top, any other scale in --out/<scale>/, so scales never replace each other."""
    from harness.exact_results import reading
    from harness.report.at_a_glance import readable_readme, rewrite_readme
    from harness.report.build import publish_leaderboards

    _ = readable_readme(readme) if readme else None  # a README without its markers fails before writing
    with reading(results):
        paths = publish_leaderboards(results, out, list(tracks) or None, scale, ("md", *formats), force)
    for path in paths + ([readme] if readme and rewrite_readme(readme, out) else []):
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
    from harness.exact_results import reading

    with reading(results):
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
    from harness.engine.store import Store

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
    from harness.engine.store import to_parquet

    if not Path(results).exists():
        raise HarnessError(f"results directory {results}/ does not exist")
    path = to_parquet(results, out or Path(results) / "results.parquet")
    click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
