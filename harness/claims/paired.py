"""Claim kinds tested paired over seeds: superiority, non-inferiority, equivalence band, ratio.

Why paired: every method of a track runs on the same seeds (same init, data order and sample),
so the difference of two arms is tested seed by seed, with the same paired t-test the
leaderboards use for their Δ column. Each kind reduces a row to one value per seed
(``RowSample``) and the rule (rule.py) tests it:

- superiority: a - b, two-sided, plus "smaller than the smallest effect of interest";
- non-inferiority with margin m: a - b against -m, one-sided on each side;
- equivalence band [-m, m]: TOST inside the band, one-sided beyond an edge;
- ratio against a value: the per-seed log ratios against log(value).

Differences are oriented so that positive means "a is better" (from the metric's direction).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from harness.claims.core import NA, Claim, Evidence, Published, fmt
from harness.claims.preconditions import Precondition, check_all, min_runs
from harness.claims.sample import RowSample, SmallestEffect
from harness.claims.select import Fixed, Tuned, arm, arm_cells, dataset_names, datasets
from harness.stats import paired_test, summarize

ArmSpec = str | Fixed | Tuned
DEFAULT_PRE = (min_runs(2),)
POOLED = "all datasets"


def _higher(track: Any, metric: str, direction: str) -> bool:
    if direction:
        return direction == "higher"
    return track.metric(metric).higher_is_better if track is not None else True


def arm_rows(
    arms: Sequence[Fixed | Tuned],
    metric: str,
    preconditions: Sequence[Precondition],
    dataset: str | None,
    pool: bool,
    measure: Callable[[list[dict[int, float]]], tuple[str, RowSample | None]],
) -> Callable[[Any, Any], list[Evidence]]:
    """The row loop shared by the seed-paired kinds.

    Per dataset label (or once over all of them with ``pool``, for measurements that do not
    depend on the dataset's setting: each seed's values are averaged over the datasets): the
    arms' per-seed values, the cells not ok, the precondition check, then ``measure(values) ->
    (ours, sample)``; the sample carries the run keys of every cell of the arms.
    """

    def rows(table: Any, track: Any) -> list[Evidence]:
        labels = datasets(table, dataset)
        groups = [(POOLED, labels)] if pool and labels else [(ds, [ds]) for ds in labels]
        out = []
        for name, members in groups:
            t = table[table["dataset"].isin(members)]
            by_arm = {a.label: a.rows(t) for a in arms}
            if any(not len(r) for r in by_arm.values()):
                continue  # this dataset does not run every arm
            values, failed, notes = [], 0, []
            for a in arms:
                per_ds = [a.values(t[t["dataset"] == ds], metric) for ds in members]
                values.append(_mean_by_seed([v for v, _, _ in per_ds]))
                failed += sum(f for _, f, _ in per_ds)
                notes += [n for _, _, n in per_ds if n]
            reason = check_all(preconditions, by_arm)
            if not any(values) or (len(values) > 1 and not set(values[0]) & set(values[1])):
                out.append(Evidence(name, "no paired results", verdict=NA, dataset_names=dataset_names(t)))
                continue
            ours, sample = measure(values)
            if sample is not None:
                sample.keys = tuple(sorted({k for r in by_arm.values() for k in r["key"]})) if "key" in t else ()
                if len(arms) == 2 and len(members) == 1:
                    sample.test_var = test_set_variance(arms, t, metric)
            if pool and len(members) > 1:
                ours += f"; seeds averaged over {len(members)} datasets (the measurement does not depend on them)"
            if failed:
                ours += f"; {failed} cell(s) not ok excluded"
            if notes:
                ours += "; " + "; ".join(sorted(set(notes)))
            out.append(Evidence(name, ours, untestable=reason, dataset_names=dataset_names(t), sample=sample))
        return out

    return rows


def test_set_variance(arms: Sequence[Fixed | Tuned], t: Any, metric: str) -> float:
    """The test-set share of the variance of the two arms' mean paired difference, from the cells'
    per-example predictions (NaN when the metric cannot be recomputed from predictions or a cell
    has no prediction file)."""
    from harness.prediction_files import PredictionFileError
    from harness.predictions import RECOMPUTABLE, row_predictions, variance_split

    if metric not in RECOMPUTABLE or "pred_file" not in t:
        return math.nan
    try:
        preds = []
        for a in arms:
            cells = arm_cells(a, t)
            if not cells or not all(isinstance(r["pred_file"], str) and r["pred_file"] for r in cells.values()):
                return math.nan
            preds.append({s: row_predictions(r) for s, r in cells.items()})
        return variance_split(*preds, balanced=RECOMPUTABLE[metric] == "balanced").test_var
    except (PredictionFileError, ValueError):
        return math.nan


def _mean_by_seed(dicts: list[dict[int, float]]) -> dict[int, float]:
    seeds = sorted(set().union(*dicts)) if dicts else []
    out = {}
    for s in seeds:
        vals = [d[s] for d in dicts if s in d]
        out[s] = sum(vals) / len(vals)
    return out


def _oriented(va: dict[int, float], vb: dict[int, float], higher: bool) -> tuple[dict, dict]:
    """Values with the sign flipped for lower-is-better metrics, so that a - b > 0 means a is better."""
    if higher:
        return va, vb
    return {s: -v for s, v in va.items()}, {s: -v for s, v in vb.items()}


def _means(va: dict[int, float], vb: dict[int, float]) -> str:
    sa, sb = summarize(list(va.values())), summarize(list(vb.values()))
    return f"{fmt(sb.mean)} -> {fmt(sa.mean)}"


def _diffs(va: dict[int, float], vb: dict[int, float]) -> dict[int, float]:
    """a - b over the seeds both arms have."""
    return {s: va[s] - vb[s] for s in sorted(set(va) & set(vb))}


def _units(metric: str, a: Any, b: Any, oriented: bool = True) -> str:
    better = f"; positive: {a.label} better" if oriented else ""
    return f"Δ {metric} ({a.label} - {b.label}{better})"


def _directed_rows(
    arms: tuple[Any, ...],
    metric: str,
    direction: str,
    preconditions: Sequence[Precondition],
    dataset: str | None,
    pool: bool,
    measure: Callable[[list[dict[int, float]], bool], tuple[str, RowSample | None]],
) -> Callable[[Any, Any], list[Evidence]]:
    """``arm_rows`` whose ``measure`` also gets the metric's direction (higher is better?), which is
    known only when the claim meets its track (or from the claim's own ``direction``)."""
    higher: dict[str, bool] = {}
    loop = arm_rows(arms, metric, preconditions, dataset, pool, lambda values: measure(values, higher["value"]))

    def rows(table: Any, track: Any) -> list[Evidence]:
        higher["value"] = _higher(track, metric, direction)
        return loop(table, track)

    return rows


def superiority(
    a: ArmSpec,
    b: ArmSpec,
    metric: str,
    text: str | None = None,
    published: Published | str | None = None,
    note: str = "",
    direction: str = "",
    preconditions: Sequence[Precondition] = DEFAULT_PRE,
    dataset: str | None = None,
    pool: bool = False,
    smallest_effect: SmallestEffect | None = None,
) -> Claim:
    """Arm ``a`` beats arm ``b`` on ``metric`` by at least ``smallest_effect`` (paired over seeds)."""
    A, B = arm(a), arm(b)
    text = text or f"{A.label} beats {B.label} on {metric}"
    effect = smallest_effect.value if smallest_effect else math.nan

    def measure(values: list[dict[int, float]], higher: bool) -> tuple[str, RowSample | None]:
        va, vb = values
        pr = paired_test(va, vb)
        oa, ob = _oriented(va, vb, higher)
        ours = f"{_means(va, vb)} (delta {fmt(pr.delta)} [{fmt(pr.ci_lo)}, {fmt(pr.ci_hi)}], n={pr.n})"
        sample = RowSample(_diffs(oa, ob), "superiority", smallest_effect=effect, units=_units(metric, A, B))
        return ours, sample

    rows = _directed_rows((A, B), metric, direction, preconditions, dataset, pool, measure)
    return Claim(
        text, rows, "superiority", metric, direction, published, note, tuple(preconditions), False, smallest_effect
    )


def paired_better(
    a: ArmSpec,
    b: ArmSpec,
    metric: str,
    dataset: str | None = None,
    published: Published | str | None = None,
    text: str | None = None,
    **kw: Any,
) -> Claim:
    """``superiority`` with the argument order the tracks used before the rule was declared."""
    return superiority(a, b, metric, text=text, published=published, dataset=dataset, **kw)


better = paired_better


def noninferiority(
    a: ArmSpec,
    b: ArmSpec,
    metric: str,
    margin: float,
    text: str | None = None,
    published: Published | str | None = None,
    note: str = "",
    direction: str = "",
    preconditions: Sequence[Precondition] = DEFAULT_PRE,
    dataset: str | None = None,
    pool: bool = False,
) -> Claim:
    """Arm ``a`` is not worse than ``b`` by more than ``margin`` (declared with the claim, in the
    metric's units). Reproduced when a - b is significantly above -margin (one-sided Holm p < 0.025:
    the printed 95% interval lies above -margin), not reproduced when significantly below it."""
    A, B = arm(a), arm(b)
    text = text or f"{A.label} is not worse than {B.label} on {metric} by more than {margin:g}"

    def measure(values: list[dict[int, float]], higher: bool) -> tuple[str, RowSample | None]:
        va, vb = values
        oa, ob = _oriented(va, vb, higher)
        pr = paired_test(va, vb)
        ours = (
            f"{_means(va, vb)} (delta {fmt(pr.delta)} [{fmt(pr.ci_lo)}, {fmt(pr.ci_hi)}], margin {margin:g}, n={pr.n})"
        )
        return ours, RowSample(_diffs(oa, ob), "non-inferiority", margin=margin, units=_units(metric, A, B))

    rows = _directed_rows((A, B), metric, direction, preconditions, dataset, pool, measure)
    return Claim(text, rows, "non-inferiority", metric, direction, published, note, tuple(preconditions))


def equivalence(
    a: ArmSpec,
    b: ArmSpec,
    metric: str,
    band: float,
    text: str | None = None,
    published: Published | str | None = None,
    note: str = "",
    log_scale: bool = False,
    preconditions: Sequence[Precondition] = DEFAULT_PRE,
    dataset: str | None = None,
    pool: bool = False,
) -> Claim:
    """Arms ``a`` and ``b`` agree on ``metric`` within ``[-band, band]`` (declared with the claim).

    ``log_scale``: compare log values, so the band is a ratio (band = log 1.5 means "within a
    factor 1.5"), for metrics that span orders of magnitude. Reproduced when the TOST p is below
    0.025 (the 95% interval lies inside the band); not reproduced when the difference is
    significantly beyond the band.
    """
    A, B = arm(a), arm(b)
    what = f"a factor {math.exp(band):.3g}" if log_scale else f"{band:g}"
    text = text or f"{A.label} ~ {B.label} on {metric} (within {what})"

    def measure(values: list[dict[int, float]]) -> tuple[str, RowSample | None]:
        va, vb = values
        if log_scale:
            if min(list(va.values()) + list(vb.values()), default=0) <= 0:
                return "non-positive values: no log-scale band", None
            va, vb = {s: math.log(v) for s, v in va.items()}, {s: math.log(v) for s, v in vb.items()}
        what = f"log {metric}" if log_scale else metric
        sample = RowSample(_diffs(va, vb), "equivalence", band=band, units=_units(what, A, B, oriented=False))
        lo, hi = sample.ci()
        if log_scale:
            est = f"ratio {math.exp(sample.mean):.3g}"
            est += f" [{math.exp(lo):.3g}, {math.exp(hi):.3g}]" if sample.n > 1 else ""
            ours = f"{fmt(math.exp(_mean(vb)))} -> {fmt(math.exp(_mean(va)))} ({est}, band x{math.exp(band):.3g})"
        else:
            ours = f"{_means(va, vb)} (delta {fmt(sample.mean)} [{fmt(lo)}, {fmt(hi)}], band {band:g})"
        return ours + f", n={sample.n}", sample

    rows = arm_rows((A, B), metric, preconditions, dataset, pool, measure)
    return Claim(text, rows, "equivalence", metric, "", published, note, tuple(preconditions))


def _mean(d: dict[int, float]) -> float:
    return sum(d.values()) / len(d) if d else math.nan


def ratio(
    a: ArmSpec,
    metric: str,
    against: ArmSpec | None = None,
    value: float = 1.0,
    text: str | None = None,
    published: Published | str | None = None,
    note: str = "",
    direction: str = "",
    preconditions: Sequence[Precondition] = DEFAULT_PRE,
    dataset: str | None = None,
    pool: bool = False,
) -> Claim:
    """A ratio exceeds ``value``: the per-seed log ratios tested against log(value).

    With ``against``: the improvement factor of ``a`` over it (a/b, or b/a when lower is better).
    Without: ``metric`` is itself a ratio measured inside each cell (e.g. a speed-up against a twin).
    Ours is the geometric mean of the per-seed ratios with its 95% CI.
    """
    arms = (arm(a),) if against is None else (arm(a), arm(against))
    text = text or f"{arms[0].label} improves {metric} by more than {value:g}x"

    def measure(values: list[dict[int, float]], higher: bool) -> tuple[str, RowSample | None]:
        if len(values) == 1:
            logs = {s: math.log(v) for s, v in values[0].items() if v > 0}
        else:
            va, vb = values
            num, den = (va, vb) if higher else (vb, va)
            logs = {s: math.log(num[s] / den[s]) for s in sorted(set(va) & set(vb)) if va[s] > 0 and vb[s] > 0}
        if not logs:
            return "no positive ratios", None
        base = math.log(value)
        sample = RowSample({s: v - base for s, v in logs.items()}, "ratio", units=f"log({metric} ratio / {value:g})")
        lo, hi = sample.ci()
        ours = f"{math.exp(base + sample.mean):.3f}x"
        if sample.n > 1:
            ours += f" [{math.exp(base + lo):.3f}, {math.exp(base + hi):.3f}]"
        return ours + f" vs {value:g}x, n={sample.n}", sample

    rows = _directed_rows(arms, metric, direction, preconditions, dataset, pool, measure)
    return Claim(text, rows, "ratio", metric, direction, published, note, tuple(preconditions))
