"""The claim object, its result rows and the verdict rule.

Why one module: every track states its claims with the same objects, so a verdict means the same
thing in every leaderboard. ``reproduced`` needs the right direction AND p < 0.05 over seeds; the
wrong direction with p < 0.05 is ``not reproduced``; anything inside seed noise is
``inconclusive``; no data is ``n.a.``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NA = "reproduced", "not reproduced", "inconclusive", "n.a."
ALPHA = 0.05


@dataclass
class ClaimResult:
    claim: str
    published: str
    ours: str
    verdict: str
    dataset: str = ""


@dataclass
class Claim:
    """A claim with a check ``(table, track) -> list[ClaimResult]``."""

    text: str
    check: Callable[[Any, Any], list[ClaimResult]]
    published: str | None = None

    def evaluate(self, table: Any, track: Any) -> list[ClaimResult]:
        try:
            return self.check(table, track)
        except Exception as exc:  # a broken claim shows as such; it never breaks the report
            return [ClaimResult(self.text, self.published or "", f"check failed: {exc}", NA)]


def direction_verdict(right_direction: bool, p: float) -> str:
    """Verdict for a directional claim: significant (p < 0.05) in the claimed direction is
    ``reproduced``, significant against it ``not reproduced``, anything else ``inconclusive``."""
    if p is None or math.isnan(p):
        return INCONCLUSIVE
    if p < ALPHA:
        return REPRODUCED if right_direction else NOT_REPRODUCED
    return INCONCLUSIVE


def equivalence_verdict(within: bool, p: float) -> str:
    """Verdict for an 'about equal' claim: inside the equivalence band is ``reproduced``; outside it
    with p < 0.05 is ``not reproduced``; outside but within seed noise is ``inconclusive``."""
    if within:
        return REPRODUCED
    return NOT_REPRODUCED if (p == p and p < ALPHA) else INCONCLUSIVE


def fmt(x: float) -> str:
    """Three significant digits for small or large numbers, four decimals otherwise."""
    if x is None or math.isnan(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e-2 or abs(x) >= 1e3 else f"{x:.4f}"


def exact(text: str, fn: Callable[[], tuple[str, bool]], published: str | None = None) -> Claim:
    """An exact or deterministic check ``fn() -> (ours, ok)``; ``harness run`` computes it and stores it
    with the results, and a report reads it there (``harness.exact_results``: reports stay torch-free)."""

    def check(table: Any, track: Any) -> list[ClaimResult]:
        from harness.exact_results import outcome

        ours, ok = outcome(track, text, fn)
        verdict = NA if ok is None else REPRODUCED if ok else NOT_REPRODUCED
        return [ClaimResult(text, published or "", ours, verdict, "(exact)")]

    claim = Claim(text, check, published)
    claim.exact_check = fn  # what harness.exact_results.refresh runs
    return claim
