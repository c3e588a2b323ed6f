"""`harness compare`: did any leaderboard number move beyond what seed noise explains?

Why: a refactor, a dependency upgrade or a new machine can shift results silently. This diffs a
results directory against the published ``leaderboards/<track>.csv`` files, row by row
(track, dataset, method), Holm-corrected over all rows compared so that a large table does not
raise false alarms by chance. Where the published side has per-seed values
(``<track>.seeds.csv``) and the results share at least two of its seeds, the test is paired over
those seeds (the same seed means the same init and data order, so the comparison is far more
sensitive); otherwise a Welch t-test on the two rows' mean, std and number of ok seeds. A side
with a single seed borrows the other side's std (same protocol, same noise); two single-seed
rows, or zero-variance differences, count as moved when they differ at all (beyond ``atol``),
because then there is no noise to explain a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.stats import holm

KEY = ("track", "dataset", "method")
NEEDED = KEY + ("metric", "mean", "std", "n_ok")


@dataclass
class Change:
    track: str
    dataset: str
    method: str
    metric: str
    old_mean: float
    old_std: float
    old_n: int
    new_mean: float
    new_std: float
    new_n: int
    p: float = math.nan
    p_holm: float = math.nan
    moved: bool = False
    direction: str = ""  # "worse" | "better" | "" (unchanged or unknown orientation)
    note: str = ""  # "missing" (published, not in results), "new" (in results only), "not tested"
    test: str = ""  # "paired" (over shared seeds) or "welch" (summary statistics)

    @property
    def delta(self) -> float:
        return self.new_mean - self.old_mean


@dataclass
class Comparison:
    changes: list[Change]

    @property
    def moved(self) -> list[Change]:
        return [c for c in self.changes if c.moved]

    @property
    def worse(self) -> list[Change]:
        return [c for c in self.moved if c.direction == "worse"]

    def count(self, note: str) -> int:
        return sum(c.note == note for c in self.changes)


def welch_p(m1: float, s1: float, n1: int, m2: float, s2: float, n2: int, atol: float = 1e-12) -> float:
    """Two-sided Welch t-test p-value from summary statistics (see the module docstring for n = 1)."""
    if n1 < 1 or n2 < 1 or math.isnan(m1) or math.isnan(m2):
        return math.nan
    v1 = s1 * s1 if n1 >= 2 and not math.isnan(s1) else math.nan
    v2 = s2 * s2 if n2 >= 2 and not math.isnan(s2) else math.nan
    v1 = v2 if math.isnan(v1) else v1
    v2 = v1 if math.isnan(v2) else v2
    if math.isnan(v1):  # both single-seed
        v1 = v2 = 0.0
    se2 = v1 / n1 + v2 / n2
    diff = abs(m1 - m2)
    if se2 <= 0:
        return 0.0 if diff > atol else 1.0
    from scipy.stats import t

    df_num = se2 * se2
    df_den = (v1 / n1) ** 2 / max(n1 - 1, 1) + (v2 / n2) ** 2 / max(n2 - 1, 1)
    df = df_num / df_den if df_den > 0 else max(n1 + n2 - 2, 1)
    return float(2 * t.sf(diff / math.sqrt(se2), df))


def read_published(leaderboards: str | Path, tracks: list[str] | None = None) -> Any:
    """All published leaderboard rows (one CSV per track) as one DataFrame."""
    import pandas as pd

    root = Path(leaderboards)
    if root.is_file():
        paths = [root]
    elif root.is_dir():  # <track>.csv only: not <track>.seeds.csv / <track>.claims.csv
        paths = sorted(p for p in root.glob("*.csv") if "." not in p.stem)
    else:
        raise HarnessError(f"published leaderboards {root} not found (a directory of <track>.csv or one CSV file)")
    if tracks:
        paths = [p for p in paths if p.stem in tracks]
    if not paths:
        what = f" for track(s) {', '.join(tracks)}" if tracks else ""
        raise HarnessError(f"no leaderboard CSV files{what} in {root}; run `harness publish` first")
    frames = []
    for p in paths:
        try:
            df = pd.read_csv(p, dtype={k: str for k in KEY + ("metric",)})
        except Exception as exc:
            raise HarnessError(f"leaderboard {p} is unreadable: {type(exc).__name__}: {exc}") from None
        missing = [c for c in NEEDED if c not in df.columns]
        if missing:
            raise HarnessError(f"leaderboard {p} lacks column(s) {', '.join(missing)}; is it a `harness publish` CSV?")
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def current_rows(results: str | Path, tracks: list[str] | None = None, scale: str | None = None) -> tuple[Any, dict]:
    """The leaderboard rows the results directory gives now (same code as `harness publish`), and
    per (track, dataset, method) the primary metric by seed of the ok, fresh cells."""
    import pandas as pd

    from harness.report.markdown import leaderboard_records
    from harness.report.publish import load, seed_records, track_parts

    table, classes, _ = load(str(results), tracks, scale)
    recs, seeds = [], {}
    for cls in classes:
        t, rows, _ = track_parts(table, cls)
        recs += leaderboard_records(rows, cls)
        seeds.update(_by_seed(seed_records(t), cls.primary))
    return pd.DataFrame(recs, columns=list(NEEDED) if not recs else None), seeds


def _by_seed(frame: Any, metric: str) -> dict[tuple[str, str, str], dict[int, float]]:
    """(track, dataset, method) -> {seed: metric} over the ok rows of a seeds table."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    if metric not in frame or not len(frame):
        return out
    ok = frame[frame["status"] == "ok"]
    for key, g in ok.groupby(list(KEY)):
        vals = {int(s): float(v) for s, v in zip(g["seed"], g[metric]) if v == v}
        if vals:
            out[tuple(str(k) for k in key)] = vals
    return out


def published_seeds(leaderboards: str | Path, old: Any) -> dict[tuple[str, str, str], dict[int, float]]:
    """Per-seed published values from ``<track>.seeds.csv`` beside the leaderboards (when present)."""
    import pandas as pd

    root = Path(leaderboards)
    folder = root.parent if root.is_file() else root
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for track, rows in old.groupby("track"):
        path = folder / f"{track}.seeds.csv"
        if not path.exists():
            continue
        try:
            frame = pd.read_csv(path, dtype={k: str for k in KEY})
        except Exception as exc:
            raise HarnessError(f"per-seed leaderboard {path} is unreadable: {type(exc).__name__}: {exc}") from None
        out.update(_by_seed(frame, str(rows["metric"].iloc[0])))
    return out


def paired_p(old: dict[int, float], new: dict[int, float], atol: float = 1e-12) -> float:
    """Paired t-test p of new - old over shared seeds (NaN with fewer than two); identical per-seed
    values (within ``atol``) give 1, a constant non-zero shift gives 0."""
    from harness.stats import paired_test, summarize

    seeds = sorted(set(old) & set(new))
    if len(seeds) < 2:
        return math.nan
    diffs = [new[s] - old[s] for s in seeds]
    if summarize(diffs).std <= atol:
        return 1.0 if max(abs(d) for d in diffs) <= atol else 0.0
    return paired_test({s: new[s] for s in seeds}, {s: old[s] for s in seeds}).p


def _orientation(track: str, metric: str) -> bool | None:
    """True when higher is better, None when the track or metric is no longer known."""
    from harness.registry import REGISTRY

    try:
        return bool(REGISTRY.get("track", track).load().metric(metric).higher_is_better)
    except Exception:
        return None


def compare(
    results: str | Path,
    leaderboards: str | Path = "leaderboards",
    tracks: list[str] | None = None,
    alpha: float = 0.05,
    atol: float = 1e-12,
) -> Comparison:
    """Compare every published row with the same (track, dataset, method) computed from ``results``."""
    if not 0 < alpha < 1:
        raise HarnessError(f"--alpha must be in (0, 1), got {alpha}")
    old = read_published(leaderboards, tracks)
    results_tracks = tracks or sorted(set(old["track"]))
    if not Path(results).exists():
        raise HarnessError(f"results directory {results}/ does not exist; run `harness run` first")
    from harness.engine.store import collect

    present = set(collect(results, warn=False).get("track", []))
    scales = set(old["scale"].dropna().astype(str)) if "scale" in old else set()
    scale = scales.pop() if len(scales) == 1 else None  # compare like with like: the published scale
    new, new_seeds = current_rows(results, [t for t in results_tracks if t in present] or None, scale)
    old_seeds = published_seeds(leaderboards, old)
    new_by_key = {tuple(str(r[k]) for k in KEY): r for _, r in new.iterrows()}
    changes: list[Change] = []
    seen = set()
    for _, o in old.iterrows():
        key = tuple(str(o[k]) for k in KEY)
        seen.add(key)
        n = new_by_key.get(key)
        ch = Change(*key, str(o["metric"]), float(o["mean"]), float(o["std"]), _int(o["n_ok"]), math.nan, math.nan, 0)
        if n is None or _int(n["n_ok"]) == 0:
            ch.note = "missing"
        else:
            ch.new_mean, ch.new_std, ch.new_n = float(n["mean"]), float(n["std"]), _int(n["n_ok"])
            if str(n["metric"]) != ch.metric:
                raise HarnessError(f"{'/'.join(key)}: published metric {ch.metric!r}, results give {n['metric']!r}")
            ch.p = paired_p(old_seeds.get(key, {}), new_seeds.get(key, {}), atol)
            ch.test = "paired"
            if math.isnan(ch.p):
                ch.p = welch_p(ch.old_mean, ch.old_std, ch.old_n, ch.new_mean, ch.new_std, ch.new_n, atol)
                ch.test = "welch"
            if math.isnan(ch.p):
                ch.note = "not tested"
        changes.append(ch)
    for key, n in new_by_key.items():
        if key not in seen and _int(n["n_ok"]) > 0:
            changes.append(
                Change(
                    *key,
                    str(n["metric"]),
                    math.nan,
                    math.nan,
                    0,
                    float(n["mean"]),
                    float(n["std"]),
                    _int(n["n_ok"]),
                    note="new",
                )
            )
    for ch, adj in zip(changes, holm([c.p for c in changes])):
        ch.p_holm = adj
        ch.moved = adj == adj and adj < alpha
        higher = _orientation(ch.track, ch.metric)
        if ch.moved and higher is not None:
            ch.direction = "better" if (ch.delta > 0) == higher else "worse"
    return Comparison(changes)


def _int(x: Any) -> int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0
    return int(v) if v == v else 0


def render(cmp: Comparison, show_all: bool = False) -> str:
    """A table of the moved rows (or all rows) and a one-line summary."""
    from tabulate import tabulate

    def f(x: float) -> str:
        return "-" if x != x else f"{x:.4g}"

    rows = [c for c in cmp.changes if show_all or c.moved or c.note == "missing"]
    lines = []
    if rows:
        table = [
            [
                c.track,
                c.dataset,
                c.method,
                c.metric,
                f"{f(c.old_mean)} ± {f(c.old_std)} (n={c.old_n})",
                f"{f(c.new_mean)} ± {f(c.new_std)} (n={c.new_n})",
                f(c.delta),
                f(c.p_holm),
                c.test or "-",
                ("MOVED " + c.direction).strip() if c.moved else (c.note or "within noise"),
            ]
            for c in rows
        ]
        headers = ["track", "dataset", "method", "metric", "published", "now", "Δ", "p (Holm)", "test", "verdict"]
        lines.append(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    tested = sum(c.p == c.p for c in cmp.changes)
    paired = sum(c.test == "paired" for c in cmp.changes)
    lines.append(
        f"compared {tested} row(s) ({paired} paired over seeds): "
        f"{len(cmp.moved)} moved beyond seed noise ({len(cmp.worse)} worse), "
        f"{cmp.count('missing')} published but missing from the results, {cmp.count('new')} new, "
        f"{cmp.count('not tested')} not testable"
    )
    return "\n".join(lines)
