"""Claims without a test over seeds: exact checks and descriptive measurements.

Exact: an identity or a deterministic computation (recomputed at report time, or read from
results that carry no sampling noise); its verdict is pass/fail, with no p-value. Descriptive: a
measurement the claim reports without a verdict (e.g. where a curve flattens, when no statistic
over the available seeds would mean anything).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.claims.core import DESCRIPTIVE, NA, NOT_REPRODUCED, REPRODUCED, Claim, Evidence, Published

EXACT = "(exact)"


def exact(
    text: str, fn: Callable[[], tuple[str, bool]], published: Published | str | None = None, note: str = ""
) -> Claim:
    """An exact or deterministic check ``fn() -> (ours, ok)``. ``harness run`` computes it and stores it
    with the results; a report reads it there (``harness.exact_results``: reports stay torch-free)."""

    def rows(table: Any, track: Any) -> list[Evidence]:
        from harness.exact_results import outcome

        ours, ok = outcome(track, text, fn)  # ok None: not computed for these results
        return [Evidence(EXACT, ours, verdict=NA if ok is None else REPRODUCED if ok else NOT_REPRODUCED)]

    claim = Claim(text, rows, "exact", published=published, note=note)
    claim.exact_check = fn  # what harness.exact_results.refresh runs during `harness run`
    return claim


def exact_on_results(
    text: str,
    fn: Callable[[Any], list[tuple[str, str, bool | None]]],
    published: Published | str | None = None,
    note: str = "",
    metric: str = "",
) -> Claim:
    """A deterministic check read from the results: ``fn(table) -> [(dataset, ours, ok)]``
    (ok = None: no data on that row)."""

    def rows(table: Any, track: Any) -> list[Evidence]:
        out = []
        for ds, ours, ok in fn(table):
            verdict = NA if ok is None else REPRODUCED if ok else NOT_REPRODUCED
            out.append(Evidence(ds, ours, verdict=verdict))
        return out

    return Claim(text, rows, "exact", metric, published=published, note=note)


def descriptive(
    text: str,
    fn: Callable[[Any], list[tuple[str, str]]],
    published: Published | str | None = None,
    note: str = "",
    metric: str = "",
) -> Claim:
    """A measurement reported without a verdict: ``fn(table) -> [(dataset, ours)]``."""

    def rows(table: Any, track: Any) -> list[Evidence]:
        return [Evidence(ds, ours, verdict=DESCRIPTIVE) for ds, ours in fn(table)]

    return Claim(text, rows, "descriptive", metric, published=published, note=note)
