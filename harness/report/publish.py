"""``harness publish``: leaderboards/<track>.md, .csv, .seeds.csv, .claims.csv (and .tex), summary.md.

Why these files: the Markdown is for reading, the CSV for tools, the per-seed CSV so anyone can
recompute every paired delta and CI, the claims CSV so verdicts can be audited, the LaTeX for
papers, summary.md (at_a_glance.py) for the README's per-track counts. Each names the suite,
scale, seeds, harness version and commit that produced it and the command that reproduces it.
Scales never replace each other: the ``quick`` scale is published at the top of the output folder,
every other scale in a sub-folder named after it, and a folder holding another scale's leaderboard
is only overwritten with ``force``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.report.leaderboard import mark_stale, track_rows
from harness.report.markdown import claims_markdown, claims_records, leaderboard_markdown, leaderboard_records
from harness.report.provenance import PUBLISHED_SCALE, provenance

if TYPE_CHECKING:
    import pandas as pd

    from harness.claims.core import ClaimResult

SEED_KEY = ("track", "dataset", "method", "seed", "status")
FORMATS = ("md", "latex")


def load(results: str, tracks: list[str] | None, scale: str | None = None) -> tuple[Any, list[Any], str]:
    """The collected results of one scale, the registered track classes that have results, and the scale.

    ``scale`` None: the results' only scale, or when they hold several, the scale of the most
    recently finished cell (what was just run), so a smoke run never mixes into quick tables.
    """
    from harness.engine.store import collect
    from harness.registry import REGISTRY

    if not Path(results).exists():
        raise HarnessError(f"results directory {results}/ does not exist; run `harness run` first")
    table = collect(results)
    if not len(table):
        raise HarnessError(f"no readable results in {results}/")
    scales = sorted(set(table["scale"]))
    if scale is None:
        newest = table.sort_values("finished_at", na_position="first")["scale"].iloc[-1]
        scale = scales[0] if len(scales) == 1 else str(newest)
    elif scale not in scales:
        raise HarnessError(f"--scale {scale!r}: no results of that scale in {results}/ (found: {', '.join(scales)})")
    table = table[table["scale"] == scale]
    present = sorted(set(table["track"]))
    for t in tracks or []:
        REGISTRY.get("track", t, where="--track")
        if t not in present:
            found = ", ".join(present)
            raise HarnessError(f"--track {t!r}: no results for it at scale {scale} in {results}/ (found: {found})")
    classes = []
    for name in (t for t in present if not tracks or t in tracks):
        try:
            classes.append(REGISTRY.get("track", name).load())
        except HarnessError:
            continue  # results of a track that is no longer registered are left out
    return table, classes, scale


def decide_looks(results: str) -> Any:
    """The reading of the ``--decide`` design of ``results`` (None when it has no design): its rows'
    looks and frozen verdicts, the tracks it registered (sequential/readout.py)."""
    from harness.sequential.readout import design_reading

    return design_reading(results)


def track_parts(table: Any, track_cls: Any, looks: Any = None) -> tuple[Any, list[Any], list[Any]]:
    """A track's rows of the table, its leaderboard rows and its evaluated claim rows (claims see
    only fresh cells: a result computed by an older version of its method, dataset or track is
    shown as stale in the leaderboard and never counts as evidence). ``looks``: the rows of a
    ``--decide`` design (their verdicts read repeated p-values; frozen verdicts stay frozen)."""
    t = table[table["track"] == track_cls.name]
    rows = track_rows(t, track_cls)
    claims = evaluate_claims(t, track_cls, looks)
    return t, rows, claims


def evaluate_claims(t: Any, track_cls: Any, looks: Any = None) -> list[Any]:
    """The claim rows of one track's results (fresh cells only)."""
    fresh = mark_stale(t) if len(t) else t
    fresh = fresh[~fresh["stale"]].drop(columns=["stale"]) if len(fresh) else fresh
    return [res for claim in track_cls().claims() for res in claim.evaluate(fresh, track_cls, looks)]


def seed_records(t: Any, rows: list[Any] | None = None) -> Any:
    """One row per cell the leaderboard uses (stale cells left out): the key columns, then every metric.

    Where a leaderboard delta was taken on the test examples both arms were scored on (``rows``
    with ``delta_values``), the method's cells also carry ``delta_examples``, ``delta_value`` and
    ``delta_baseline_value`` (the primary metric of this cell and of the baseline's cell of the same
    seed on those examples), so that delta too recomputes from this file alone."""
    import pandas as pd

    if not len(t):
        return pd.DataFrame(columns=list(SEED_KEY))
    fresh = mark_stale(t)
    fresh = fresh[~fresh["stale"]]
    metrics = sorted(c for c in fresh.columns if c.startswith("m.") and fresh[c].notna().any())
    out = fresh[list(SEED_KEY) + metrics].rename(columns={c: c[2:] for c in metrics})
    common = {(r.dataset, r.method, s): (r.delta_examples, *v) for r in rows or [] for s, v in r.delta_values.items()}
    if common:
        keys = list(zip(out["dataset"], out["method"], out["seed"].astype(int)))
        for i, name in enumerate(("delta_examples", "delta_value", "delta_baseline_value")):
            out[name] = [common[k][i] if k in common else None for k in keys]
        out["delta_examples"] = out["delta_examples"].astype("Int64")
    return out.sort_values(["dataset", "method", "seed"]).reset_index(drop=True)


def destination(out: str, scale: str) -> Path:
    """``out`` for the published scale, ``out/<scale>`` for every other one."""
    return Path(out) if scale == PUBLISHED_SCALE else Path(out) / scale


def _check_scale(csv_path: Path, scale: str, force: bool) -> None:
    if force or not csv_path.exists():
        return
    import pandas as pd

    try:
        old = pd.read_csv(csv_path, usecols=lambda c: c == "scale")
    except (ValueError, OSError):
        return
    found = set(old["scale"].dropna().astype(str)) if "scale" in old else set()
    if found and found != {scale}:
        raise HarnessError(
            f"{csv_path} holds a {'/'.join(sorted(found))}-scale leaderboard; refusing to replace it with "
            f"{scale}-scale results (use another --out, or --force)"
        )


def publish_leaderboards(
    results: str,
    out: str = "leaderboards",
    tracks: list[str] | None = None,
    scale: str | None = None,
    formats: tuple[str, ...] = ("md",),
    force: bool = False,
) -> list[Path]:
    """Write the leaderboard files of every track with results; returns the paths written."""
    import pandas as pd

    from harness.report.latex import leaderboard_latex

    for f in formats:
        if f not in FORMATS:
            raise HarnessError(f"--format {f!r}: choose from {', '.join(FORMATS)}")
    table, classes, scale = load(results, tracks, scale)
    outdir = destination(out, scale)
    outdir.mkdir(parents=True, exist_ok=True)
    looks = decide_looks(results)
    parts = {cls.name: track_parts(table, cls, looks) for cls in classes}
    controlled = with_q([c for _, _, claims in parts.values() for c in claims])
    written = []
    for cls in classes:
        t, rows, claims = parts[cls.name]
        prov = provenance(results, table, cls.name)
        paths = {ext: outdir / f"{cls.name}.{ext}" for ext in ("md", "csv", "seeds.csv", "claims.csv", "tex")}
        _check_scale(paths["csv"], scale, force)
        md = [f"# Leaderboard: `{cls.name}`", "", (cls.__doc__ or "").strip(), "", *prov.lines(), ""]
        md += [leaderboard_markdown(rows, cls), "## Claims", "", _rule_text(), ""]
        md += [*(f"- {line}" for line in controlled), "", claims_markdown(claims)]
        paths["md"].write_text("\n".join(md), encoding="utf-8")
        records = [{**r, **prov.record()} for r in leaderboard_records(rows, cls)]
        board = pd.DataFrame(records)
        if "delta_examples" in board:
            board["delta_examples"] = board["delta_examples"].astype("Int64")  # a count, not 60.0
        board.to_csv(paths["csv"], index=False)
        seed_records(t, rows).to_csv(paths["seeds.csv"], index=False)
        claims_table(claims).to_csv(paths["claims.csv"], index=False)
        written += [paths[k] for k in ("md", "csv", "seeds.csv", "claims.csv")]
        if "latex" in formats:
            note = f"{prov.scale} scale, {prov.seeds_text}, commit {prov.commit_text}; reproduce: {prov.reproduce()}"
            paths["tex"].write_text(leaderboard_latex(rows, cls, note), encoding="utf-8")
            written.append(paths["tex"])
    from harness.report.at_a_glance import write_summary

    return [*written, write_summary(outdir)]  # every track's claims table in outdir, not only this call's


def with_q(claims: list[ClaimResult]) -> list[str]:
    """Assign Benjamini-Yekutieli q-values across ``claims`` (every track published together) and
    return the lines that say what the verdicts control."""
    from harness.report.summary import assign_q, guarantees

    assign_q(claims)
    return guarantees(claims)


def _rule_text() -> str:
    from harness.report.summary import RULE

    return RULE


def claims_table(claims: Sequence[ClaimResult]) -> pd.DataFrame:
    """``<track>.claims.csv`` as a frame: seed and look counts stay integers (5, not 5.0) although
    exact and untestable rows leave them empty, which would turn the column to float."""
    import pandas as pd

    table = pd.DataFrame(claims_records(claims))
    for count in ("n", "look", "n_updated"):
        if count in table:
            table[count] = pd.to_numeric(table[count]).round().astype("Int64")
    return table
