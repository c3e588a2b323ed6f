"""The metric registry (scikit-learn) and a Hugging Face `evaluate` metric loaded offline by path."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.metrics import METRICS, compute, get_metric, load_evaluate_metric, register_evaluate_metric

LOCAL_METRIC = Path(__file__).resolve().parent / "evaluate_metrics" / "macro_recall"
Y_TRUE = [0, 0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 0, 2, 1]


def test_sklearn_metrics_by_name():
    assert compute("accuracy", Y_TRUE, Y_PRED) == pytest.approx(5 / 8)
    assert compute("balanced_accuracy", Y_TRUE, Y_PRED) == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # per-class F1: class 0 p=3/4 r=3/4, class 1 p=1/3 r=1/2, class 2 p=1 r=1/2
    f1 = [0.75, 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5), 2 * 0.5 / 1.5]
    assert compute("macro_f1", Y_TRUE, Y_PRED) == pytest.approx(sum(f1) / 3)
    import numpy as np

    assert compute("accuracy", np.array(Y_TRUE), np.array(Y_PRED)) == pytest.approx(5 / 8)


def test_unknown_metric_is_a_one_line_error():
    with pytest.raises(HarnessError, match="unknown metric 'macro_f'.*did you mean 'macro_f1'"):
        get_metric("macro_f")


def test_evaluate_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "evaluate", None)
    with pytest.raises(HarnessError, match=r"pip install 'kexue-bench\[evaluate\]'"):
        load_evaluate_metric(LOCAL_METRIC)


def test_bad_evaluate_path_is_a_one_line_error(tmp_path):
    with pytest.raises(HarnessError, match="expected a directory holding"):
        load_evaluate_metric(tmp_path / "nothing")


def test_local_evaluate_module_offline(tmp_path, monkeypatch):
    pytest.importorskip("evaluate", reason="optional extra not installed: pip install 'kexue-bench[evaluate]'")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # modules cache stays out of the user's home
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "hf" / "modules"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    fn = load_evaluate_metric(LOCAL_METRIC)
    assert fn(Y_TRUE, Y_PRED) == pytest.approx(compute("balanced_accuracy", Y_TRUE, Y_PRED))
    monkeypatch.setitem(METRICS, "macro_recall", METRICS.get("accuracy"))  # restored after the test
    register_evaluate_metric("macro_recall", LOCAL_METRIC)
    assert compute("macro_recall", Y_TRUE, Y_PRED) == pytest.approx(7 / 12)


def _oracle_per_class(pred, y, k):
    """Reference per-class recall and F1 from confusion counts (the formulas the tracks used by hand)."""
    import numpy as np

    recall, f1 = np.full(k, np.nan), np.full(k, np.nan)
    for c in np.flatnonzero(np.bincount(y, minlength=k) > 0):
        tp, fn, fp = np.sum((pred == c) & (y == c)), np.sum((pred != c) & (y == c)), np.sum((pred == c) & (y != c))
        recall[c], f1[c] = tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)
    return recall, f1


def test_sklearn_metrics_equal_the_hand_written_formulas_exactly():
    """Moving the tracks' hand-written accuracy / balanced accuracy / macro-F1 to scikit-learn must
    not change a single stored number: equality, not approx, over many random label vectors."""
    import warnings

    import numpy as np

    from harness.metrics import accuracy, balanced_accuracy, macro_f1, per_class_recall
    from harness.tracks.imbalance.protocol import imbalance_metrics

    rng = np.random.default_rng(0)
    for trial in range(300):
        k, n = int(rng.integers(2, 40)), int(rng.integers(1, 2000))
        y = rng.integers(0, k if trial % 3 else max(1, k // 2), n)  # every third: classes absent from y
        pred = np.where(rng.random(n) < rng.random(), y, rng.integers(0, k, n))
        recall, f1 = _oracle_per_class(pred, y, k)
        present = np.flatnonzero(np.bincount(y, minlength=k) > 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert accuracy(y, pred) == sum(int(a == b) for a, b in zip(pred, y)) / n
            assert balanced_accuracy(y, pred) == float(np.nanmean(recall[present]))
            assert macro_f1(y, pred, labels=present) == float(np.nanmean(f1[present]))
            np.testing.assert_array_equal(per_class_recall(y, pred, k), recall)
            got = imbalance_metrics(pred, y, rng.integers(1, 500, k))
        assert got["balanced_accuracy"] == float(np.nanmean(recall[present]))
        assert got["macro_f1"] == float(np.nanmean(f1[present]))


def test_accuracy_of_tensors_and_empty_splits():
    torch = pytest.importorskip("torch")
    from harness.metrics import accuracy

    assert accuracy(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3])) == 2 / 3
    assert math.isnan(accuracy([], []))
