"""Claims tested over test examples instead of seeds: above chance, and one proportion above another.

Why: a method that trains nothing (zero-shot PET) gives the same accuracy on every seed, so a
paired test over seeds has no variance to work with. The unit of evidence is then the test
example: a binomial test against chance (normal approximation, two-sided), and between two methods
McNemar's exact test on the examples both were scored on (paired per example, from the cells'
prediction files: ``pred_file`` column). Results without prediction files (older runs) fall back
to an unpaired two-proportion z-test, labelled as such in the row; a prediction file that is
named but unreadable makes the row untestable, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.claims.core import Claim, Evidence, Published
from harness.claims.preconditions import Precondition, check_all
from harness.claims.sample import SmallestEffect
from harness.claims.select import dataset_names, datasets, rows_for


def mean_and_n(rows: Any, metric: str, n_column: str = "m.test_texts") -> tuple[float, int, int]:
    """Mean metric over ok seeds, test examples per cell (``n_column``), and the number of ok cells."""
    ok = rows[rows["status"] == "ok"]
    col = f"m.{metric}"
    if not len(ok) or col not in ok:
        return math.nan, 0, 0
    vals = [float(v) for v in ok[col] if not math.isnan(float(v))]
    n = int(ok[n_column].iloc[0]) if n_column in ok else 0
    return (sum(vals) / len(vals) if vals else math.nan), n, len(vals)


def p_two_sided(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


def above_chance(
    selector: str,
    metric: str,
    chance: float,
    text: str,
    published: Published | str | None = None,
    note: str = "",
    n_column: str = "m.test_texts",
    preconditions: Sequence[Precondition] = (),
) -> Claim:
    """``selector``'s accuracy (mean over seeds) is above ``chance`` over its n test examples."""

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for ds in datasets(table):
            r = rows_for(table[table["dataset"] == ds], selector)
            acc, n, cells = mean_and_n(r, metric, n_column)
            if not cells or n == 0:
                continue
            z = (acc - chance) / math.sqrt(chance * (1 - chance) / n)
            ours = f"{acc:.4f} vs chance {chance:g} (n={n} test examples, z={z:+.1f})"
            reason = check_all(preconditions, {selector: r})
            out.append(Evidence(ds, ours, p_two_sided(z), acc > chance, reason, dataset_names=dataset_names(r)))
        return out

    return Claim(text, rows, "above chance", metric, "higher", published, note, tuple(preconditions))


def proportions_better(
    a: str,
    b: str,
    metric: str,
    text: str,
    published: Published | str | None = None,
    note: str = "",
    n_column: str = "m.test_texts",
    preconditions: Sequence[Precondition] = (),
    smallest_effect: SmallestEffect | None = None,
) -> Claim:
    """``a``'s accuracy beats ``b``'s by at least ``smallest_effect``: McNemar's exact test on their
    common test examples (one deterministic cell each: the smallest seed both have predictions for),
    or, when either arm has no prediction file, the unpaired two-proportion z-test (labelled in the
    row); "smaller than the smallest effect" is a one-sided z-test of the accuracy difference against
    it (paired per example when the predictions are there)."""
    effect = smallest_effect.value if smallest_effect else math.nan

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for ds in datasets(table):
            t = table[table["dataset"] == ds]
            ra, rb = rows_for(t, a), rows_for(t, b)
            pa, na, ca = mean_and_n(ra, metric, n_column)
            pb, nb, cb = mean_and_n(rb, metric, n_column)
            if not ca or not cb or not na or not nb:
                continue
            reason = check_all(preconditions, {a: ra, b: rb})
            paired = _paired_evidence(ds, ra, rb, metric, (a, b), effect)
            if paired is not None:
                paired.untestable = paired.untestable or reason
                paired.dataset_names = dataset_names(t)
                out.append(paired)
                continue
            pool = (pa * na + pb * nb) / (na + nb)
            se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / na + 1 / nb))
            z = (pa - pb) / se
            ours = (
                f"{pb:.4f} -> {pa:.4f} (delta {pa - pb:+.4f}, z={z:+.1f}, n={na} test examples; "
                "unpaired z-test: no prediction files)"
            )
            p_small = smaller_than(pa - pb, se, effect)
            ev = Evidence(ds, ours, p_two_sided(z), pa > pb, reason, dataset_names=dataset_names(t), p_small=p_small)
            out.append(ev)
        return out

    return Claim(
        text, rows, "superiority", metric, "higher", published, note, tuple(preconditions), False, smallest_effect
    )


def smaller_than(delta: float, se: float, effect: float) -> float:
    """One-sided p-value that the true difference is below ``effect`` (normal approximation)."""
    if math.isnan(effect):
        return math.nan
    if se <= 0:
        return 0.0 if delta < effect else 1.0
    return 0.5 * math.erfc((effect - delta) / se / math.sqrt(2))


def _paired_evidence(
    ds: str, ra: Any, rb: Any, metric: str, names: tuple[str, str], effect: float = math.nan
) -> Evidence | None:
    """McNemar evidence for one dataset, an untestable row when a prediction file is unreadable, or
    None when the z-test fallback applies (an arm without prediction files, or a metric that
    predictions cannot recompute)."""
    from harness.prediction_files import PredictionFileError
    from harness.predictions import RECOMPUTABLE, align, arm_predictions, mcnemar, metric_on

    if RECOMPUTABLE.get(metric) != "accuracy":  # McNemar compares accuracies, nothing else
        return None
    try:
        pa, pb = arm_predictions(ra), arm_predictions(rb)
    except PredictionFileError as exc:
        return Evidence(ds, "", untestable=f"paired test impossible: {exc}")
    seeds = sorted(set(pa) & set(pb))
    if not seeds:
        return None
    seed = seeds[0]
    try:
        aligned = align({seed: pa[seed]}, {seed: pb[seed]})
    except ValueError as exc:
        return Evidence(ds, "", untestable=f"paired test impossible: {exc}")
    acc_a, acc_b = metric_on(pa[seed], aligned.ids, metric), metric_on(pb[seed], aligned.ids, metric)
    ca, cb = aligned.correct()
    test = mcnemar(ca[0], cb[0])
    ours = (
        f"{acc_b:.4f} -> {acc_a:.4f} (delta {acc_a - acc_b:+.4f}, McNemar exact on {test.n} paired test "
        f"examples, seed {seed}: {test.a_only} right only under {names[0]}, {test.b_only} only under {names[1]})"
    )
    n = max(test.n, 1)
    delta = (test.a_only - test.b_only) / n  # the paired accuracy difference on the common examples
    se = math.sqrt(max((test.a_only + test.b_only) / n - delta**2, 0.0) / n)
    return Evidence(ds, ours, test.p, acc_a > acc_b, p_small=smaller_than(delta, se, effect))
