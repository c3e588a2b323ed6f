"""The claims library on synthetic tables: each kind, the Holm rule, untestable and descriptive rows.

Why synthetic: every verdict path (reproduced, not reproduced, inconclusive, untestable, n.a.,
descriptive) is exercised with numbers whose answer is known, without training anything.
"""

from __future__ import annotations

import math

import pytest

pd = pytest.importorskip("pandas")

from harness.claims import (  # noqa: E402
    INCONCLUSIVE,
    NA,
    NOT_REPRODUCED,
    REPRODUCED,
    UNTESTABLE,
    Published,
    SmallestEffect,
    Tuned,
    above_chance,
    counts,
    descriptive,
    equivalence,
    exact,
    exact_on_results,
    min_grid,
    min_runs,
    noninferiority,
    proportions_better,
    ratio,
    requires,
    superiority,
    trend,
)
from harness.errors import HarnessError  # noqa: E402
from harness.track import Metric, Track  # noqa: E402

E = SmallestEffect(0.01, "one point of accuracy (test)")


class Toy(Track):
    name = "toy-claims"
    metrics = (Metric("acc", True), Metric("loss", False))


def table(values: dict, dataset: str = "d1", extra: dict | None = None, status: dict | None = None) -> pd.DataFrame:
    """values: method label -> list of per-seed values of m.acc (m.loss = 1 - acc)."""
    rows = []
    for method, vals in values.items():
        name = method.split("[")[0]
        for seed, v in enumerate(vals):
            row = {
                "track": "toy-claims",
                "dataset": dataset,
                "dataset_name": dataset.split(" ")[0],
                "method": method,
                "method_name": name,
                "seed": seed,
                "status": (status or {}).get((method, seed), "ok"),
                "m.acc": v,
                "m.loss": 1 - v,
            }
            row.update((extra or {}).get((method, seed), {}))
            rows.append(row)
    return pd.DataFrame(rows)


def verdicts(claim, t):
    return [r.verdict for r in claim.evaluate(t, Toy)]


def test_superiority_both_directions_and_noise():
    up = table({"a": [0.80, 0.81, 0.82, 0.83], "b": [0.70, 0.715, 0.72, 0.735]})
    assert verdicts(superiority("a", "b", "acc", smallest_effect=E), up) == [REPRODUCED]
    assert verdicts(superiority("b", "a", "acc", smallest_effect=E), up) == [NOT_REPRODUCED]
    # lower is better for loss: a has the lower loss, so "a beats b on loss" holds too
    assert verdicts(superiority("a", "b", "loss", smallest_effect=E), up) == [REPRODUCED]
    noisy = table({"a": [0.80, 0.70, 0.85], "b": [0.75, 0.78, 0.76]})
    assert verdicts(superiority("a", "b", "acc", smallest_effect=E), noisy) == [INCONCLUSIVE]


def test_holm_over_the_rows_of_a_claim_decides_the_verdict():
    """Two datasets each with raw p between 0.025 and 0.05: significant alone, not after Holm."""
    b = [0.78, 0.79, 0.80, 0.77]
    a = [x + d for x, d in zip(b, [0.02, 0.035, 0.005, 0.025])]  # paired t-test p = 0.042
    t = pd.concat([table({"a": a, "b": b}, "d1"), table({"a": a, "b": b}, "d2")])
    rows = superiority("a", "b", "acc", smallest_effect=E).evaluate(t, Toy)
    assert all(0.025 < r.p < 0.05 for r in rows), [r.p for r in rows]
    assert all(r.p_holm == pytest.approx(min(1, 2 * r.p)) for r in rows)
    assert [r.verdict for r in rows] == [INCONCLUSIVE, INCONCLUSIVE]
    one = superiority("a", "b", "acc", smallest_effect=E).evaluate(table({"a": a, "b": b}), Toy)
    assert one[0].verdict == REPRODUCED and one[0].p_holm == one[0].p


def test_untestable_is_apart_from_inconclusive_and_out_of_the_family():
    t = table({"a": [0.9], "b": [0.5]})  # one seed: no test over seeds
    rows = superiority("a", "b", "acc", smallest_effect=E).evaluate(t, Toy)
    assert rows[0].verdict == UNTESTABLE and "n=1" in rows[0].ours and math.isnan(rows[0].p_holm)
    reached = requires("target_hit", "==", 1, "an arm did not reach its target train loss")
    t2 = table(
        {"a": [0.8, 0.81, 0.82], "b": [0.7, 0.7, 0.71]},
        extra={("a", s): {"m.target_hit": 1.0} for s in range(3)} | {("b", 1): {"m.target_hit": 0.0}},
    )
    claim = superiority("a", "b", "acc", smallest_effect=E, preconditions=(min_runs(2), reached))
    res = claim.evaluate(t2, Toy)
    assert res[0].verdict == UNTESTABLE and "did not reach its target" in res[0].ours
    assert counts(res)[UNTESTABLE] == 1 and counts(res)[INCONCLUSIVE] == 0
    runs = min_runs(2, column="m.pretrain_seed", what="pretraining runs")
    t3 = table({"a": [0.8, 0.81, 0.82], "b": [0.7, 0.7, 0.71]})  # no pretrain_seed recorded: one run
    assert (
        "n=1 pretraining runs"
        in superiority("a", "b", "acc", smallest_effect=E, preconditions=(runs,)).evaluate(t3, Toy)[0].ours
    )


def test_noninferiority_with_a_declared_margin():
    close = table({"a": [0.800, 0.801, 0.799, 0.800], "b": [0.802, 0.803, 0.801, 0.8025]})
    assert verdicts(noninferiority("a", "b", "acc", 0.01), close) == [REPRODUCED]
    worse = table({"a": [0.70, 0.701, 0.699, 0.70], "b": [0.80, 0.80, 0.801, 0.799]})
    assert verdicts(noninferiority("a", "b", "acc", 0.01), worse) == [NOT_REPRODUCED]
    # equality can reproduce "at least as good", which a superiority test never could
    same = table({"a": [0.8, 0.81, 0.82], "b": [0.8, 0.81, 0.82]})
    assert verdicts(noninferiority("a", "b", "acc", 0.01), same) == [REPRODUCED]
    # a superiority test cannot reproduce it; it says the effect is smaller than the smallest of interest
    row = superiority("a", "b", "acc", smallest_effect=E).evaluate(same, Toy)[0]
    assert row.verdict == NOT_REPRODUCED and row.decided_by == "smaller than the smallest effect"


def test_equivalence_band_linear_and_log_scale():
    inside = table({"a": [0.800, 0.802, 0.801, 0.799], "b": [0.801, 0.801, 0.800, 0.800]})
    assert verdicts(equivalence("a", "b", "acc", 0.01), inside) == [REPRODUCED]
    outside = table({"a": [0.90, 0.91, 0.905, 0.90], "b": [0.80, 0.80, 0.81, 0.80]})
    assert verdicts(equivalence("a", "b", "acc", 0.01), outside) == [NOT_REPRODUCED]
    factor = table({"a": [0.20, 0.21, 0.19, 0.2], "b": [0.02, 0.022, 0.018, 0.021]})
    assert verdicts(equivalence("a", "b", "acc", math.log(2), log_scale=True), factor) == [NOT_REPRODUCED]
    near = table({"a": [0.20, 0.21, 0.19, 0.2], "b": [0.19, 0.205, 0.2, 0.21]})
    assert verdicts(equivalence("a", "b", "acc", math.log(2), log_scale=True), near) == [REPRODUCED]


def test_ratio_against_a_value_and_within_cell_ratios():
    t = table({"a": [0.5, 0.52, 0.49, 0.51], "b": [0.25, 0.25, 0.26, 0.24]})
    assert verdicts(ratio("a", "acc", against="b", value=1.5), t) == [REPRODUCED]  # ~2x > 1.5x
    assert verdicts(ratio("a", "acc", against="b", value=3.0), t) == [NOT_REPRODUCED]
    speed = table({"a": [1.21, 1.19, 1.22, 1.2]})  # a metric that is itself a ratio (speed-up)
    row = ratio("a", "acc", value=1.0).evaluate(speed, Toy)[0]
    assert row.verdict == REPRODUCED and row.ours.startswith("1.20")


def test_pooled_rows_appear_once():
    vals = {"a": [0.9, 0.91, 0.92], "b": [0.5, 0.52, 0.51]}
    t = pd.concat([table(vals, f"d{i}") for i in range(3)])
    rows = superiority("a", "b", "acc", smallest_effect=E, pool=True).evaluate(t, Toy)
    assert len(rows) == 1 and rows[0].dataset == "all datasets" and "n=3" in rows[0].ours


def test_tuned_arm_chooses_on_validation_inside_each_seed():
    extra = {}
    for s in range(3):  # grid point x=2 wins on validation in seeds 0 and 1, x=1 in seed 2
        extra[("a[x=1]", s)] = {"m.valid": 0.9 if s == 2 else 0.5, "p.x": 1.0}
        extra[("a[x=2]", s)] = {"m.valid": 0.5 if s == 2 else 0.9, "p.x": 2.0}
    t = table({"a[x=1]": [0.70, 0.70, 0.71], "a[x=2]": [0.80, 0.81, 0.60], "b": [0.5, 0.5, 0.5]}, extra=extra)
    arm = Tuned("a", select="valid")
    assert {s: r["method"] for s, r in arm.choices(t).items()} == {0: "a[x=2]", 1: "a[x=2]", 2: "a[x=1]"}
    vals, failed, note = arm.values(t, "acc")
    assert vals == {0: 0.80, 1: 0.81, 2: 0.71} and "a[x=1] x1" in note and "a[x=2] x2" in note
    claim = noninferiority("a[x=1]", arm, "acc", 0.01, preconditions=(min_grid("x", 2, arms=[arm.label]),))
    assert claim.evaluate(t, Toy)[0].verdict in (NOT_REPRODUCED, INCONCLUSIVE)
    single = t[t["method"] != "a[x=2]"]
    assert claim.evaluate(single, Toy)[0].verdict == UNTESTABLE


def test_trend_per_method_and_u_shape():
    rows, extra = {}, {}
    curve = {"down": [3.0, 2.0, 1.5, 1.0], "u": [3.0, 1.0, 2.0, 3.5]}
    for method, ys in curve.items():
        for i, y in enumerate(ys):
            label = f"{method}[n={2**i}]"
            rows[label] = [y + 0.01 * s for s in range(3)]
            for s in range(3):
                extra[(label, s)] = {"p.n": float(2**i)}
    t = table(rows, extra=extra)
    res = trend(["down", "u"], "n", "acc", "decreasing", smallest_effect=E).evaluate(t, Toy)
    assert [r.claim.endswith("(down)") for r in res] == [True, False]
    assert res[0].verdict == REPRODUCED
    assert res[1].ours.startswith("U-shaped: best at n=2") and res[1].verdict != REPRODUCED
    pooled = trend(["down", "u"], "n", "acc", "decreasing", pool=True, smallest_effect=E).evaluate(t, Toy)
    assert len(pooled) == 1


def test_above_chance_proportions_and_untestable_backbone():
    extra = {("z", 0): {"m.test_texts": 2000.0, "m.predicted_labels": 1.0}}
    t = table({"z": [0.5]}, extra=extra)
    one_label = requires("predicted_labels", ">=", 2, "the backbone predicts one label for every text")
    claim = above_chance("z", "acc", 0.5, text="above chance", preconditions=(one_label,))
    assert verdicts(claim, t) == [UNTESTABLE]
    t2 = table({"z": [0.6], "y": [0.5]}, extra={(m, 0): {"m.test_texts": 2000.0} for m in "zy"})
    assert verdicts(above_chance("z", "acc", 0.5, text="c"), t2) == [REPRODUCED]
    assert verdicts(proportions_better("z", "y", "acc", text="p", smallest_effect=E), t2) == [REPRODUCED]


def test_exact_descriptive_na_and_published_marks():
    assert verdicts(exact("identity", lambda: ("0 error", True)), table({})) == [REPRODUCED]
    assert verdicts(exact("identity", lambda: ("big error", False)), table({})) == [NOT_REPRODUCED]
    det = exact_on_results("det", lambda t: [("all", "1.3x", True), ("other", "no data", None)])
    assert verdicts(det, table({})) == [REPRODUCED, NA]
    desc = descriptive("knee", lambda t: [("d1", "knee at 64")])
    assert verdicts(desc, table({})) == ["descriptive"]
    pub = Published("0.7789", "Menon et al. 2020 README", comparable=("cifar10-lt",))
    t = table({"a": [0.8, 0.81, 0.82], "b": [0.7, 0.7, 0.71]}, "cifar10-lt")
    row = superiority("a", "b", "acc", smallest_effect=E, published=pub).evaluate(t, Toy)[0]
    assert row.comparable == "comparable" and "Menon" in row.published
    row = superiority("a", "b", "acc", smallest_effect=E, published=pub).evaluate(
        table({"a": [0.8, 0.81], "b": [0.7, 0.71]}), Toy
    )[0]
    assert row.comparable == "other data or scale"
    # a plain string is a note, never a published value
    row = superiority("a", "b", "acc", smallest_effect=E, published="pilot: 1.32x").evaluate(t, Toy)[0]
    assert row.published == "" and "note: pilot: 1.32x" in row.ours


def test_no_results_and_broken_checks_are_rows_not_crashes():
    assert verdicts(superiority("a", "b", "acc", smallest_effect=E), table({"c": [0.5, 0.6]})) == [NA]

    def boom(table):
        raise RuntimeError("bad")

    assert verdicts(descriptive("x", boom), table({})) == [NA]
    from harness.claims import Claim

    with pytest.raises(HarnessError, match="kind 'vibes' is not one of"):
        Claim("x", lambda t, k: [], kind="vibes")
