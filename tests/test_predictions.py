"""Per-example predictions: what a cell records, the file beside its result (written before the
JSON, checked against it), the numpy-only loaders, and the paired statistics on them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import FAKE_SUITE, write_suite
from scipy.stats import binomtest

from harness.engine.context import RunContext
from harness.engine.executors import InlineExecutor, LocalExecutor
from harness.engine.runner import run_cell
from harness.engine.store import Store, collect
from harness.errors import HarnessError
from harness.prediction_files import PredictionFileError, Predictions, compact, load, make_predictions
from harness.predictions import (
    align,
    balanced_accuracy,
    mcnemar,
    metric_on,
    variance_from_examples,
    variance_from_seeds,
    variance_split,
)
from harness.suite import expand, load_suite


def _cells(tmp_path, methods: str, seeds: int = 1):
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", f"seeds = {seeds}")
    return expand(load_suite(str(write_suite(tmp_path / "s.toml", body))))


# --- what a cell records ---------------------------------------------------------------------------
def test_record_predictions_takes_lists_arrays_and_tensors():
    import torch

    ctx = RunContext(0)
    ctx.record_predictions([1, 0, 2], np.array([1, 1, 2]))
    ctx.record_predictions(torch.tensor([3, 1]), torch.tensor([3, 0]), ids=torch.tensor([7, 5]), split="probe_test")
    assert ctx.predictions["test"].ids.tolist() == [0, 1, 2]  # default ids: the split's positions
    assert ctx.predictions["test"].correct.tolist() == [True, False, True]
    assert ctx.predictions["probe_test"].ids.tolist() == [7, 5]
    if torch.cuda.is_available():  # a GPU tensor is moved to the CPU, not refused
        ctx.record_predictions(torch.tensor([1, 1], device="cuda"), [1, 0])
        assert ctx.predictions["test"].predicted.tolist() == [1, 1]


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 1], [0]), "2 predictions for 1 labels"),
        (([0.5, 1.0], [0, 1]), "integer classes"),
        (([0, 1], [0, 1], [3, 3]), "unique"),
        (([[0, 1]], [[0, 1]]), "one value per example"),
    ],
)
def test_bad_predictions_are_one_line_errors(args, message):
    with pytest.raises(HarnessError, match=message):
        make_predictions(*args)
    with pytest.raises(HarnessError, match="plain name"):
        RunContext(0).record_predictions([0], [0], split="../x")


def test_compact_uses_the_smallest_integer_type():
    assert compact(np.array([0, 1, 1])).dtype == np.uint8
    assert compact(np.array([-1, 5])).dtype == np.int8
    assert compact(np.arange(1000)).dtype == np.uint16
    assert compact(np.array([-(2**40), 3])).dtype == np.int64


# --- the file beside the record ----------------------------------------------------------------------
def test_inline_run_writes_the_file_beside_a_small_json_summary(tmp_path):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, '["predicts"]', seeds=2)
    InlineExecutor(store).run(cells, lambda c: None, lambda c, r: None)
    cell = next(c for c in cells if c.method == "predicts" and c.seed == 1)
    assert store.prediction_path("fake", cell.key).exists()
    rec = json.loads(store.path("fake", cell.key).read_text())
    summary = rec["predictions"]
    assert summary["file"] == f"{cell.key}.pred.npz" and summary["splits"]["test"]["n"] == 6
    assert set(summary) == {"file", "sha256", "splits"}  # the arrays stay out of the JSON
    got = store.predictions("fake", cell.key)["test"]
    assert got.predicted.tolist() == [0, 1, 1, 0, 2, 1] and got.labels.tolist() == [0, 1, 0, 0, 2, 1]
    assert got.ids.tolist() == list(range(10, 16))
    with np.load(store.prediction_path("fake", cell.key)) as npz:
        assert {npz[k].dtype for k in npz.files} == {np.dtype(np.uint8)}  # 0..15 fit in a byte
    df = collect(tmp_path / "res")
    mine = df[df["method"] == "predicts"]
    assert set(mine["pred_n"]) == {6.0} and mine["pred_file"].str.endswith(".pred.npz").all()
    assert df[df["method"] == "plain"]["pred_file"].tolist() == ["", ""]  # no predictions: empty column


def test_failed_cells_store_no_predictions_and_a_rerun_removes_old_ones(tmp_path):
    store = Store(tmp_path / "res")
    raising = next(c for c in _cells(tmp_path, '["predicts-raise"]') if c.method == "predicts-raise")
    rec = run_cell(raising)
    assert rec["status"] == "error" and "predictions" not in rec
    store.write(rec)
    assert not store.prediction_path("fake", raising.key).exists()

    ok = next(c for c in _cells(tmp_path, '["predicts"]') if c.method == "predicts")
    store.write(run_cell(ok))
    assert store.prediction_path("fake", ok.key).exists()
    failed = {**run_cell(ok), "status": "timeout", "metrics": {}}  # a --force rerun that failed
    store.write(failed)
    assert not store.prediction_path("fake", ok.key).exists()
    assert store.predictions("fake", ok.key) is None


def test_a_crash_between_the_two_files_never_leaves_a_record_without_its_file(tmp_path, monkeypatch):
    import harness.engine.store as store_module

    store = Store(tmp_path / "res")
    cell = next(c for c in _cells(tmp_path, '["predicts"]') if c.method == "predicts")
    rec = run_cell(cell)
    real = store_module.atomic_write_bytes

    def die_on_json(path, data):
        if str(path).endswith(".json"):
            raise KeyboardInterrupt("killed between the prediction file and the record")
        real(path, data)

    monkeypatch.setattr(store_module, "atomic_write_bytes", die_on_json)
    with pytest.raises(KeyboardInterrupt):
        store.write(rec)
    monkeypatch.setattr(store_module, "atomic_write_bytes", real)
    assert store.prediction_path("fake", cell.key).exists()  # the file came first...
    assert store.read("fake", cell.key) is None  # ...and without its record the cell is simply not done
    store.write(rec)  # the rerun replaces it
    assert store.predictions("fake", cell.key)["test"].n == 6


def test_missing_corrupt_or_replaced_files_are_reported(tmp_path):
    store = Store(tmp_path / "res")
    cells = [c for c in _cells(tmp_path, '["predicts"]', seeds=2) if c.method == "predicts"]
    for c in cells:
        store.write(run_cell(c))
    a, b = (store.prediction_path("fake", c.key) for c in cells)
    a.write_bytes(b.read_bytes())  # another run's file under this name: the record's sha256 says so
    with pytest.raises(PredictionFileError, match="not the one its result record describes"):
        store.predictions("fake", cells[0].key)
    b.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(PredictionFileError, match="corrupt"):
        load(b)
    b.unlink()
    with pytest.raises(PredictionFileError, match="missing"):
        store.predictions("fake", cells[1].key)


def test_local_executor_worker_writes_the_prediction_file(tmp_path):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, '["predicts"]')
    LocalExecutor(store, jobs=1, threads=1).run(cells, lambda c: None, lambda c, r: None)
    cell = next(c for c in cells if c.method == "predicts")
    assert store.status("fake", cell.key) == "ok"
    assert store.predictions("fake", cell.key)["test"].labels.tolist() == [0, 1, 0, 0, 2, 1]


def test_loaders_and_statistics_never_import_torch(tmp_path):
    store = Store(tmp_path / "res")
    cell = next(c for c in _cells(tmp_path, '["predicts"]') if c.method == "predicts")
    store.write(run_cell(cell))
    code = (
        "import sys\n"
        "from harness.engine.store import Store\n"
        "from harness.predictions import align, mcnemar\n"
        "import harness.report.same_examples, harness.claims.proportions\n"
        f"p = Store({str(tmp_path / 'res')!r}).predictions('fake', {cell.key!r})['test']\n"
        "a = align({0: p}, {0: p})\n"
        "m = mcnemar(a.correct()[0][0], a.correct()[1][0])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(p.n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6"


# --- paired statistics ----------------------------------------------------------------------------------
def _p(pred, labels, ids=None) -> Predictions:
    return make_predictions(pred, labels, ids)


def test_align_keeps_common_seeds_and_examples_and_refuses_mismatched_labels():
    a = {0: _p([1, 0, 1, 1], [1, 1, 1, 0], [0, 1, 2, 3]), 1: _p([1, 1], [1, 1], [1, 2])}
    b = {0: _p([0, 0, 1], [0, 1, 1], [3, 1, 0]), 2: _p([0], [0], [0])}
    al = align(a, b)
    assert al.seeds == (0,) and al.ids.tolist() == [0, 1, 3]
    assert al.labels.tolist() == [1, 1, 0] and al.a.tolist() == [[1, 0, 1]] and al.b.tolist() == [[1, 0, 0]]
    with pytest.raises(ValueError, match="different labels"):
        align({0: _p([1], [1])}, {0: _p([1], [0])})
    with pytest.raises(ValueError, match="no seed"):
        align({0: _p([1], [1])}, {1: _p([1], [1])})


def test_mcnemar_exact_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    rng = np.random.default_rng(0)
    ca, cb = rng.random(500) < 0.7, rng.random(500) < 0.62
    got = mcnemar(ca, cb)
    table = [[np.sum(ca & cb), np.sum(ca & ~cb)], [np.sum(~ca & cb), np.sum(~ca & ~cb)]]
    assert got.p == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert got.a_only == table[0][1] and got.b_only == table[1][0]
    assert got.delta == pytest.approx(ca.mean() - cb.mean())
    assert got.p == binomtest(got.a_only, got.a_only + got.b_only).pvalue
    assert mcnemar([True, False], [True, False]).p == 1.0  # no discordant pair: no evidence


def test_recomputed_metrics_match_scikit_learn_on_a_subset():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 4, 300))
    p = _p(pred, labels, np.arange(300)[::-1])  # ids in another order than positions
    ids = np.arange(50, 200)
    sel = 299 - ids
    assert metric_on(p, ids, "balanced_accuracy") == pytest.approx(balanced_accuracy_score(labels[sel], pred[sel]))
    assert metric_on(p, ids, "test_accuracy") == pytest.approx(np.mean(labels[sel] == pred[sel]))
    assert balanced_accuracy(pred, labels) == pytest.approx(balanced_accuracy_score(labels, pred))
    with pytest.raises(ValueError, match="cannot be recomputed"):
        metric_on(p, ids, "macro_f1")


def test_variance_from_examples_is_what_redrawing_the_test_set_gives():
    """Monte Carlo: two fixed classifiers (each right or wrong on every example of a population);
    the spread of their accuracy (and balanced-accuracy) difference over redrawn test sets of n
    examples (stratified by class for balanced accuracy) against the formula on one test set."""
    rng = np.random.default_rng(2)
    pop = 100_000
    labels = (rng.random(pop) < 0.15).astype(int)  # imbalanced: balanced accuracy weighs the classes
    right_a, right_b = rng.random(pop) < rng.beta(4, 2, pop), rng.random(pop) < rng.beta(3, 2, pop)
    by_class = [np.flatnonzero(labels == c) for c in (0, 1)]
    n = 400
    for balanced in (False, True):
        deltas, formula = [], []
        for _ in range(600):
            if balanced:
                idx = np.concatenate([rng.choice(g, k, replace=False) for g, k in zip(by_class, (340, 60))])
            else:
                idx = rng.choice(pop, n, replace=False)
            y = labels[idx]
            a = {0: _p(np.where(right_a[idx], y, 1 - y), y)}
            b = {0: _p(np.where(right_b[idx], y, 1 - y), y)}
            al = align(a, b)
            deltas.append(variance_split(a, b, balanced).delta)
            formula.append(variance_from_examples(al, balanced))
        assert np.var(deltas, ddof=1) == pytest.approx(np.mean(formula), rel=0.2), balanced


def test_variance_shares_by_hand():
    labels = np.array([0, 0, 1, 1, 1])
    a = {0: _p([0, 1, 1, 1, 0], labels), 1: _p([0, 0, 1, 0, 0], labels)}
    b = {0: _p([1, 1, 1, 1, 1], labels), 1: _p([0, 0, 1, 1, 1], labels)}
    al = align(a, b)
    d = np.array([[1, 0, 0, 0, -1], [0, 0, 0, -1, -1]], float).mean(0)  # right under a - right under b
    assert variance_from_examples(al) == pytest.approx(np.var(d, ddof=1) / 5)
    want = np.var(d[:2], ddof=1) / (4 * 2) + np.var(d[2:], ddof=1) / (4 * 3)
    assert variance_from_examples(al, balanced=True) == pytest.approx(want)
    per_seed = [np.mean([1, 0, 0, 0, -1]), np.mean([0, 0, 0, -1, -1])]
    assert variance_from_seeds(al) == pytest.approx(np.var(per_seed, ddof=1) / 2)
    split = variance_split(a, b)
    assert split.delta == pytest.approx(np.mean(per_seed)) and 0 < split.test_share < 1
