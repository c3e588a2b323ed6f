"""Statistics on per-example predictions: two arms aligned on the examples they share, McNemar's
exact test, metrics recomputed on a set of examples, and how much of a paired difference's variance
comes from the test set rather than from seeds.

Why: a leaderboard or claim that compares two methods over seeds treats the test set as fixed.
Two questions need the examples themselves. Are two deterministic classifiers on the same texts
different? (An unpaired two-proportion test ignores that both saw the same texts; McNemar's test
uses only the texts they disagree on.) And would another draw of test examples move the
difference as much as another draw of seeds? (The test-set share below, beside the seed share.)

numpy and scipy only (no torch, no pandas): ``report``, ``publish``, ``plan`` and the claims use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.prediction_files import PredictionFileError, Predictions, load_split

# Primary metrics that can be recomputed on any set of examples from the predictions alone.
RECOMPUTABLE = {"accuracy": "accuracy", "test_accuracy": "accuracy", "balanced_accuracy": "balanced"}


def row_predictions(row: Mapping[str, Any], split: str = "test") -> Predictions:
    """The predictions of one collected result row (``pred_file`` and ``pred_sha256`` columns).

    Raises PredictionFileError when the row has no prediction file or it is missing or corrupt."""
    path = row.get("pred_file") or ""
    if not isinstance(path, str) or not path:
        raise PredictionFileError(f"no prediction file for result {row.get('key', '?')}")
    sha = row.get("pred_sha256")
    return load_split(path, sha if isinstance(sha, str) and sha else None, split)


def arm_predictions(rows: Any, split: str = "test") -> dict[int, Predictions]:
    """Seed -> predictions of the ``ok`` rows of one arm (a DataFrame slice) that have a prediction file.

    Raises PredictionFileError when a row names a file that cannot be read (never silently dropped)."""
    out: dict[int, Predictions] = {}
    if not len(rows) or "pred_file" not in rows:
        return out
    for _, row in rows[rows["status"] == "ok"].iterrows():
        if isinstance(row["pred_file"], str) and row["pred_file"]:
            out[int(row["seed"])] = row_predictions(row, split)
    return out


@dataclass(frozen=True)
class Aligned:
    """Two arms on the examples both were scored on, seed by seed.

    ``a`` and ``b`` are (seeds, examples) predicted classes; ``ids`` and ``labels`` are shared by
    every seed (the examples common to both arms at every listed seed, in increasing id order).
    """

    seeds: tuple[int, ...]
    ids: np.ndarray
    labels: np.ndarray
    a: np.ndarray
    b: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    def correct(self) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (seeds, examples) matrices: arm a right, arm b right."""
        return self.a == self.labels, self.b == self.labels


def _at(p: Predictions, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, labels) of ``p`` at ``ids`` (each id must be among ``p.ids``)."""
    order = np.argsort(p.ids, kind="stable")
    pos = order[np.searchsorted(p.ids, ids, sorter=order)]
    return p.predicted[pos], p.labels[pos]


def common_ids(*arms: Predictions) -> np.ndarray:
    """The example ids every given prediction set contains, sorted."""
    ids = arms[0].ids
    for p in arms[1:]:
        ids = np.intersect1d(ids, p.ids)
    return np.unique(ids)


def align(a: Mapping[int, Predictions], b: Mapping[int, Predictions]) -> Aligned:
    """Align two arms (seed -> predictions) on their common seeds and the examples all of them share.

    Raises ValueError when they share no seed or no example, or when the same id carries different
    true labels (then the ids do not name the same examples and nothing may be paired)."""
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise ValueError("the two arms share no seed with predictions")
    ids = common_ids(*(a[s] for s in seeds), *(b[s] for s in seeds))
    if not len(ids):
        raise ValueError("the two arms share no test example")
    pa, pb, labels = [], [], None
    for s in seeds:
        (xa, la), (xb, lb) = _at(a[s], ids), _at(b[s], ids)
        if labels is None:
            labels = la
        if not (np.array_equal(la, labels) and np.array_equal(lb, labels)):
            raise ValueError(f"the same example ids carry different labels (seed {s}): not the same examples")
        pa.append(xa)
        pb.append(xb)
    return Aligned(seeds, ids, labels, np.stack(pa), np.stack(pb))


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test of two classifiers on the same ``n`` examples.

    ``a_only``: examples only arm a gets right; ``b_only``: only arm b. ``p`` is the two-sided exact
    binomial p-value of ``a_only`` among the discordant pairs under 1/2 (1.0 when none disagree).
    """

    n: int
    a_only: int
    b_only: int
    p: float

    @property
    def delta(self) -> float:
        """Accuracy of a minus accuracy of b on these examples."""
        return (self.a_only - self.b_only) / self.n if self.n else math.nan


def mcnemar(correct_a: Any, correct_b: Any) -> McNemar:
    """McNemar's exact test from two boolean vectors of per-example correctness (same examples, same order)."""
    from scipy.stats import binomtest

    ca, cb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if ca.shape != cb.shape or ca.ndim != 1:
        raise ValueError(f"mcnemar: two vectors of the same length expected, got {ca.shape} and {cb.shape}")
    a_only, b_only = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    discordant = a_only + b_only
    p = float(binomtest(a_only, discordant, 0.5).pvalue) if discordant else 1.0
    return McNemar(len(ca), a_only, b_only, p)


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of exact matches (NaN for no examples)."""
    return float(np.mean(predicted == labels)) if len(labels) else math.nan


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``labels`` (as scikit-learn computes it)."""
    if not len(labels):
        return math.nan
    classes = np.unique(labels)
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in classes]))


def metric_on(p: Predictions, ids: np.ndarray, metric: str) -> float:
    """``metric`` (a key of RECOMPUTABLE) of ``p`` on the examples ``ids`` (all of them in ``p``)."""
    kind = RECOMPUTABLE.get(metric)
    if kind is None:
        raise ValueError(f"{metric!r} cannot be recomputed from predictions (only {', '.join(RECOMPUTABLE)})")
    predicted, labels = _at(p, np.asarray(ids, dtype=np.int64))
    return accuracy(predicted, labels) if kind == "accuracy" else balanced_accuracy(predicted, labels)


def _per_example_weights(labels: np.ndarray, balanced: bool) -> np.ndarray:
    """Weights w_i with metric = sum_i w_i * correct_i: 1/N, or 1/(C n_c) for balanced accuracy."""
    if not balanced:
        return np.full(len(labels), 1.0 / len(labels))
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / (len(classes) * counts[inverse])


def seed_differences(aligned: Aligned, balanced: bool = False) -> np.ndarray:
    """Per seed, arm a's metric minus arm b's on the aligned examples (accuracy or balanced accuracy)."""
    ca, cb = aligned.correct()
    w = _per_example_weights(aligned.labels, balanced)
    return (ca.astype(float) - cb.astype(float)) @ w


def variance_from_examples(aligned: Aligned, balanced: bool = False) -> float:
    """The test-set share of the variance of the seed-averaged paired difference.

    With d_i the seed-averaged per-example difference (correct under a minus correct under b), the
    accuracy difference is the mean of d_i over the N examples, so drawing another test set of N
    examples from the same population moves it with variance Var_i(d_i) / N. Balanced accuracy is
    the mean over the C classes of each class's mean d_i, hence sum_c Var_{i in c}(d_i) / (C^2 n_c).
    Sample variances (ddof=1); NaN when a class (or the set) has fewer than 2 examples.
    """
    ca, cb = aligned.correct()
    d = (ca.astype(float) - cb.astype(float)).mean(axis=0)
    if not balanced:
        return float(np.var(d, ddof=1) / len(d)) if len(d) >= 2 else math.nan
    classes = np.unique(aligned.labels)
    total = 0.0
    for c in classes:
        dc = d[aligned.labels == c]
        if len(dc) < 2:
            return math.nan
        total += np.var(dc, ddof=1) / (len(classes) ** 2 * len(dc))
    return float(total)


def variance_from_seeds(aligned: Aligned, balanced: bool = False) -> float:
    """The seed share: Var over seeds of the per-seed difference / number of seeds (NaN below 2 seeds)."""
    diffs = seed_differences(aligned, balanced)
    return float(np.var(diffs, ddof=1) / len(diffs)) if len(diffs) >= 2 else math.nan


@dataclass(frozen=True)
class VarianceSplit:
    """A seed-averaged paired difference and the two sources of its variance (metric units squared).

    Both are conditional estimates: ``seed_var`` treats the test set as fixed, ``test_var`` the
    seeds. They overlap (an example whose correctness flips between seeds adds to both), so their
    sum overstates the total; ``test_share`` is a descriptive ratio, not an exact decomposition.
    """

    seeds: int
    examples: int
    delta: float
    seed_var: float  # Var_seeds(per-seed difference) / seeds
    test_var: float  # Var_examples(seed-averaged per-example difference) / examples (per class if balanced)

    @property
    def test_share(self) -> float:
        """test_var / (seed_var + test_var): the part of the uncertainty more seeds cannot remove."""
        total = self.seed_var + self.test_var
        return self.test_var / total if total > 0 else math.nan


def variance_split(a: Mapping[int, Predictions], b: Mapping[int, Predictions], balanced: bool = False) -> VarianceSplit:
    """Align two arms (seed -> predictions) and split the variance of their mean difference."""
    aligned = align(a, b)
    diffs = seed_differences(aligned, balanced)
    return VarianceSplit(
        len(aligned.seeds),
        aligned.n,
        float(np.mean(diffs)),
        variance_from_seeds(aligned, balanced),
        variance_from_examples(aligned, balanced),
    )
