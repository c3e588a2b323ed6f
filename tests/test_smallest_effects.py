"""Every smallest effect of interest stands on reasons a reader can check without our measurements.

Why: a threshold chosen after seeing the data is not a smallest effect of interest; its reason
must come from the claim's source, the metric's scale, chance level or what a reader would act on.
A reason that cites measured values ("~2.5% of the ~200 measured") fails here. Changing a value is
a new design: a --decide design refuses rows whose thresholds changed (tests/test_decide.py).
"""

from __future__ import annotations

import re

import pytest

from harness.registry import REGISTRY

MEASURED = re.compile(
    r"\b(measur\w*|observ\w*|our (runs?|results|data|measurements?)|we (saw|found|got)|pilot)\b", re.IGNORECASE
)
BUILTIN = ("dialogue", "embdim", "fewshot", "igr", "imbalance", "tokenization", "vae", "weightreg")


def smallest_effects() -> list[tuple[str, str, float, str]]:
    """(track, claim, value, reason) of every claim that declares a smallest effect."""
    out = []
    for entry in REGISTRY.entries("track"):
        if entry.name not in BUILTIN:
            continue
        for claim in entry.load()().claims():
            if claim.smallest_effect is not None:
                out.append((entry.name, claim.text, claim.smallest_effect.value, claim.smallest_effect.reason))
    return out


def test_every_builtin_track_declares_smallest_effects_to_check():
    tracks = {t for t, *_ in smallest_effects()}
    assert tracks == set(BUILTIN), tracks  # the check below looks at something in every track


@pytest.mark.parametrize("reason", sorted({r for *_, r in smallest_effects()}))
def test_no_smallest_effect_reason_cites_our_measurements(reason):
    assert not MEASURED.search(reason), reason


@pytest.mark.parametrize(
    "old",
    [
        "5 perplexity points: ~2.5% of the ~200 measured",
        "1e-3 per-pixel MSE: 2-5% of the reconstruction errors measured",
        "0.02 bits per character: ~0.3% of the ~7.4-8.1 bits/char we observed",
        "1 in λ_max: a tenth of what our runs reach",
    ],
)
def test_the_check_fails_on_a_reason_that_cites_measured_values(old):
    assert MEASURED.search(old)
