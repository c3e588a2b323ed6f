"""Claims tested over test examples instead of seeds: above chance, and one proportion above another.

Why: a method that trains nothing (zero-shot PET) gives the same accuracy on every seed, so a
paired test over seeds has no variance to work with. The unit of evidence is then the test
example: a binomial test against chance (normal approximation, two-sided), and a two-proportion
z-test between two methods (unpaired, hence conservative when both see the same examples).
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
    """``a``'s accuracy beats ``b``'s by at least ``smallest_effect``: two-proportion z-tests over the test
    examples (the difference against 0, two-sided, and against the smallest effect, one-sided)."""
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
            pool = (pa * na + pb * nb) / (na + nb)
            se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / na + 1 / nb))
            z = (pa - pb) / se
            ours = f"{pb:.4f} -> {pa:.4f} (delta {pa - pb:+.4f}, z={z:+.1f}, n={na} test examples)"
            reason = check_all(preconditions, {a: ra, b: rb})
            p_small = 0.5 * math.erfc((effect - (pa - pb)) / se / math.sqrt(2)) if effect == effect else math.nan
            out.append(
                Evidence(ds, ours, p_two_sided(z), pa > pb, reason, dataset_names=dataset_names(t), p_small=p_small)
            )
        return out

    return Claim(
        text, rows, "superiority", metric, "higher", published, note, tuple(preconditions), False, smallest_effect
    )
