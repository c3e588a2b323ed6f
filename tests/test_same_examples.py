"""No leaderboard delta mixes example sets, on any track; and "one proportion beats another" is
McNemar's paired test when both arms have predictions on the same examples.

Results are written straight to a store (no training) with in-memory predictions, so the same
``Store.write`` path as a real run makes the prediction files."""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_fixtures import _record
from scipy.stats import binomtest, norm
from test_published_seeds import check_deltas

from harness.claims import SmallestEffect, proportions_better
from harness.engine.cell import Cell
from harness.engine.store import Store, collect
from harness.prediction_files import make_predictions
from harness.registry import REGISTRY, format_selector
from harness.report.leaderboard import track_rows
from harness.report.markdown import leaderboard_markdown
from harness.report.publish import publish_leaderboards

N = 200  # test examples of the full-set arms
SUBSET = 60  # the first SUBSET of them: what the subset arms are scored on


def _cell(track: str, dataset: str, method: str, params: dict, seed: int) -> Cell:
    versions = {
        "track": REGISTRY.get("track", track).version,
        "dataset": REGISTRY.get("dataset", dataset).version,
        "method": REGISTRY.get("method", method, track).version,
    }
    label = format_selector(method, params)
    return Cell(track, dataset, {}, method, params, {}, seed, "quick", versions, method_label=label)


def _write(store, track, dataset, method, params, seed, metric, pred, labels, ids=None, with_file=True):
    """One ok cell whose ``metric`` is computed from its predictions (as a track would)."""
    cell = _cell(track, dataset, method, params, seed)
    pred, labels = np.asarray(pred), np.asarray(labels)
    if metric == "balanced_accuracy":
        value = float(np.mean([np.mean(pred[labels == c] == c) for c in np.unique(labels)]))
    else:
        value = float(np.mean(pred == labels))
    metrics = {metric: value, "predicted_labels": 2.0}
    if track == "fewshot":
        metrics["test_texts"] = float(len(labels))
    rec = _record(cell, metrics, seed)
    if with_file:
        rec["predictions"] = {"test": make_predictions(pred, labels, ids)}
    store.write(rec)
    return cell


def _noisy(rng, labels, accuracy, classes=2):
    wrong = rng.random(len(labels)) > accuracy
    return np.where(wrong, (labels + rng.integers(1, classes, len(labels))) % classes, labels)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three tracks, 3 seeds: fewshot (head on all N texts, pet on all, icl on the first SUBSET),
    imbalance (ce on all, focal on a subset, balanced accuracy), and the fake track (primary metric
    ``score``, which predictions cannot recompute; ``good`` scored on other examples)."""
    root = tmp_path_factory.mktemp("same-examples") / "res"
    store = Store(root)
    rng = np.random.default_rng(0)
    y2 = (np.arange(N) % 2).astype(int)
    y4 = np.arange(N) % 4
    y4[: N // 2] = 0  # long-tailed: class 0 is half the test set
    for seed in range(3):
        _write(store, "fewshot", "sentiment", "head-finetune", {}, seed, "test_accuracy", _noisy(rng, y2, 0.8), y2)
        _write(store, "fewshot", "sentiment", "pet", {}, seed, "test_accuracy", _noisy(rng, y2, 0.85), y2)
        icl = _noisy(rng, y2[:SUBSET], 0.9)
        _write(store, "fewshot", "sentiment", "icl", {"demos": 8}, seed, "test_accuracy", icl, y2[:SUBSET])
        _write(store, "imbalance", "digits-lt", "ce", {}, seed, "balanced_accuracy", _noisy(rng, y4, 0.7, 4), y4)
        sub = np.arange(0, N, 3)
        focal = _noisy(rng, y4[sub], 0.75, 4)
        _write(store, "imbalance", "digits-lt", "focal", {}, seed, "balanced_accuracy", focal, y4[sub], ids=sub)
        _write(store, "fake", "const", "plain", {}, seed, "score", [0, 1, 1], [0, 1, 0])
        _write(store, "fake", "const", "good", {}, seed, "score", [0, 1], [0, 1], ids=[5, 6])
    for p in (1, 2):  # zero-shot patterns: one deterministic cell each
        _write(store, "fewshot", "sentiment", "pet-zero", {"pattern": f"p{p}"}, 0, "test_accuracy",
               _noisy(np.random.default_rng(p), y2, 0.6 + 0.05 * p), y2)  # fmt: skip
    return root


def _rows(root, track):
    table = collect(root)
    rows = track_rows(table[table["track"] == track], REGISTRY.get("track", track).load())
    return table, {r.method: r for r in rows}


def _on_common(table, method, base, metric, ids):
    """Per-seed (method, baseline) metric on ``ids``, recomputed here from the raw files."""
    out = {}
    for seed in range(3):
        vals = []
        for m in (method, base):
            row = table[(table["method"] == m) & (table["seed"] == seed)].iloc[0]
            with np.load(row["pred_file"]) as z:
                keep = np.isin(z["test.ids"], ids)
                pred, lab = z["test.predicted"][keep].astype(int), z["test.labels"][keep].astype(int)
            if metric == "balanced_accuracy":
                vals.append(np.mean([np.mean(pred[lab == c] == c) for c in np.unique(lab)]))
            else:
                vals.append(np.mean(pred == lab))
        out[seed] = vals
    return out


def test_subset_arms_are_compared_on_the_common_examples(results):
    table, rows = _rows(results, "fewshot")
    icl, pet = rows["icl[demos=8]"], rows["pet"]
    want = _on_common(table, "icl[demos=8]", "head-finetune", "test_accuracy", np.arange(SUBSET))
    assert icl.delta_examples == SUBSET and "60 test examples" in icl.delta_note
    assert icl.delta == pytest.approx(np.mean([a - b for a, b in want.values()]))
    assert icl.delta_values == {s: pytest.approx(tuple(v)) for s, v in want.items()}
    # the stored means stay each arm's own: icl's over its 60 texts
    assert icl.mean == pytest.approx(np.mean([a for a, _ in want.values()]))
    assert pet.delta_examples is None and pet.delta_note == ""  # same examples: the stored metrics
    head = table[table["method"] == "head-finetune"].sort_values("seed")["m.test_accuracy"].to_numpy()
    ours = table[table["method"] == "pet"].sort_values("seed")["m.test_accuracy"].to_numpy()
    assert pet.delta == pytest.approx(np.mean(ours - head))

    table, rows = _rows(results, "imbalance")
    focal = rows["focal"]
    want = _on_common(table, "focal", "ce", "balanced_accuracy", np.arange(0, N, 3))
    assert focal.delta_examples == len(range(0, N, 3))
    assert focal.delta == pytest.approx(np.mean([a - b for a, b in want.values()]))


def test_a_metric_predictions_cannot_recompute_gets_no_delta_and_the_reason(results):
    _, rows = _rows(results, "fake")
    good = rows["good"]
    assert math.isnan(good.delta) and math.isnan(good.p)
    assert "other test examples" in good.delta_note and "cannot be recomputed" in good.delta_note
    text = leaderboard_markdown(list(rows.values()), REGISTRY.get("track", "fake").load())
    assert "no Δ: other test examples" in text


def test_no_delta_mixes_example_sets_on_any_track(results):
    table = collect(results)
    for track in ("fewshot", "imbalance", "fake"):
        t = table[table["track"] == track]
        rows = track_rows(t, REGISTRY.get("track", track).load())
        base = next(r.method for r in rows if r.is_baseline)
        for r in rows:
            if r.is_baseline or math.isnan(r.delta):
                continue
            mine = set(t[t["method"] == r.method]["pred_ids"])
            theirs = set(t[t["method"] == base]["pred_ids"])
            assert r.delta_examples or mine == theirs, (track, r.method)


def test_old_results_without_files_but_other_counts_get_no_delta(tmp_path):
    store = Store(tmp_path / "res")
    y = (np.arange(N) % 2).astype(int)
    for seed in range(2):
        _write(store, "fewshot", "sentiment", "head-finetune", {}, seed, "test_accuracy", y, y, with_file=False)
        _write(store, "fewshot", "sentiment", "icl", {}, seed, "test_accuracy", y[:SUBSET], y[:SUBSET], with_file=False)
    _, rows = _rows(tmp_path / "res", "fewshot")
    icl = rows["icl"]
    assert math.isnan(icl.delta) and "60 vs 200 for the baseline" in icl.delta_note
    assert "no prediction file" in icl.delta_note


def test_published_common_example_deltas_recompute_from_the_seeds_csv(results, tmp_path):
    out = tmp_path / "lb"
    publish_leaderboards(str(results), str(out), scale="quick")
    for track in ("fewshot", "imbalance", "fake"):
        check_deltas(out, track)
    md = (out / "fewshot.md").read_text()
    assert f"({SUBSET} shared examples)" in md
    import csv

    lb = {r["method"]: r for r in csv.DictReader((out / "fewshot.csv").open())}
    assert lb["icl[demos=8]"]["delta_examples"] == str(SUBSET) and lb["pet"]["delta_examples"] == ""
    assert check_deltas(out, "fewshot") == 4  # pet, icl, the two zero-shot patterns


def _p1_beats_p2(table):
    effect = SmallestEffect(0.01, "one point of accuracy (test)")
    claim = proportions_better(
        "pet-zero[pattern=p1]", "pet-zero[pattern=p2]", "test_accuracy", text="P1 beats P2", smallest_effect=effect
    )
    fresh = table[table["track"] == "fewshot"]
    return claim.evaluate(fresh, REGISTRY.get("track", "fewshot").load())[0]


def test_p1_beats_p2_is_mcnemar_on_the_same_texts(results):
    table = collect(results)
    row = _p1_beats_p2(table)
    files = [table[table["method"] == f"pet-zero[pattern=p{p}]"].iloc[0]["pred_file"] for p in (1, 2)]
    right = []
    for f in files:
        with np.load(f) as z:
            right.append(z["test.predicted"] == z["test.labels"])
    a_only, b_only = int(np.sum(right[0] & ~right[1])), int(np.sum(~right[0] & right[1]))
    assert "McNemar exact on 200 paired test examples" in row.ours
    # "smaller than one point": a one-sided z-test of the paired per-text differences (+1, 0, -1)
    diffs = right[0].astype(float) - right[1].astype(float)
    z = (0.01 - diffs.mean()) / (diffs.std(ddof=0) / np.sqrt(len(diffs)))
    assert row.p_small == pytest.approx(float(norm.sf(z)))
    # the row's p: McNemar's two-sided p, or twice the smallest-effect test's when that is smaller
    mcnemar_p = binomtest(a_only, a_only + b_only).pvalue
    assert row.p == pytest.approx(min(mcnemar_p, 2 * row.p_small))


def test_unreadable_prediction_file_makes_the_row_untestable_and_no_files_fall_back(results, tmp_path):
    import shutil

    copy = tmp_path / "res"
    shutil.copytree(results, copy)
    table = collect(copy)
    p2 = table[table["method"] == "pet-zero[pattern=p2]"].iloc[0]["pred_file"]
    with open(p2, "r+b") as fh:
        fh.write(b"garbage")
    row = _p1_beats_p2(collect(copy))
    assert row.verdict == "untestable" and "paired test impossible" in row.ours and "pred.npz" in row.ours

    no_files = collect(copy).assign(pred_file="", pred_sha256="")
    row = _p1_beats_p2(no_files)
    assert "unpaired z-test: no prediction files" in row.ours and row.p == row.p
