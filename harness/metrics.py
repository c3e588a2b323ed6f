"""Classification metrics by name: scikit-learn by default, a Hugging Face ``evaluate`` module by path.

Why a registry: a track names its metrics (``accuracy``, ``macro_f1``...) instead of hand-writing
them, so every track computes, say, macro-F1 the same way. A track that needs a metric sklearn
does not have may point at a local ``evaluate`` metric module (a directory holding ``<name>.py``
with an ``evaluate.Metric`` subclass); it is loaded from disk, never from the Hub, so runs stay
offline. ``evaluate`` is an optional extra: ``pip install 'kexue-bench[evaluate]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, unknown_name

MetricFn = Callable[[Sequence[Any], Sequence[Any]], float]
EVALUATE_HINT = "evaluate metrics need the optional extra: pip install 'kexue-bench[evaluate]'"


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Share of exact matches; NaN for no examples (an empty split is not a perfect score)."""
    y_true, y_pred = _plain(y_true), _plain(y_pred)
    if not len(y_true):
        return float("nan")
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def balanced_accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(_plain(y_true), _plain(y_pred)))


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None) -> float:
    """Unweighted mean of per-class F1.

    ``labels`` = None averages over every class seen in ``y_true`` or ``y_pred``; the imbalance
    track passes the classes present in ``y_true``, so a class that is only ever predicted (never
    true) does not enter the mean. ``zero_division=0``: a class never predicted scores 0, as in the
    imbalance literature.
    """
    from sklearn.metrics import f1_score

    lab = None if labels is None else _plain(labels)
    return float(f1_score(_plain(y_true), _plain(y_pred), labels=lab, average="macro", zero_division=0))


def per_class_recall(y_true: Sequence[Any], y_pred: Sequence[Any], num_classes: int) -> Any:
    """Recall of classes ``0 .. num_classes-1`` as a numpy array; NaN for a class absent from ``y_true``."""
    import numpy as np
    from sklearn.metrics import recall_score

    return np.asarray(
        recall_score(
            _plain(y_true), _plain(y_pred), labels=list(range(num_classes)), average=None, zero_division=np.nan
        ),
        dtype=float,
    )


METRICS: dict[str, MetricFn] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "balanced_accuracy": balanced_accuracy,
}


def get_metric(name: str) -> MetricFn:
    """The metric function registered as ``name`` (one-line error with suggestions otherwise)."""
    if name not in METRICS:
        raise unknown_name("metric", name, sorted(METRICS))
    return METRICS[name]


def compute(name: str, y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """``get_metric(name)(y_true, y_pred)``; tensors are turned into numpy arrays first."""
    return get_metric(name)(_plain(y_true), _plain(y_pred))


def _plain(x: Any) -> Any:
    """Tensors become numpy arrays (sklearn's input); arrays and lists pass through."""
    if hasattr(x, "detach"):  # torch tensor
        return x.detach().cpu().numpy()
    return x if hasattr(x, "__len__") else list(x)


def _as_list(x: Any) -> list[Any]:
    x = _plain(x)
    return x.tolist() if hasattr(x, "tolist") else list(x)


def load_evaluate_metric(path: str | os.PathLike[str], key: str | None = None) -> MetricFn:
    """A metric function backed by a local ``evaluate`` module directory.

    ``evaluate.load(local_dir)`` is called with the Hub switched off; the returned function calls
    ``compute(predictions=..., references=...)`` and returns the value under ``key`` (default: the
    only value, or the one named like the module).
    """
    root = Path(path)
    script = root / f"{root.name}.py" if root.is_dir() else root
    if not script.is_file() or script.suffix != ".py":
        raise HarnessError(f"evaluate metric {path}: expected a directory holding {root.name}.py (or a .py file)")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")  # read at import time: set before importing
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import evaluate
    except ImportError:
        raise HarnessError(EVALUATE_HINT) from None
    try:
        module = evaluate.load(str(script.parent if root.is_dir() else script))
    except Exception as exc:
        raise HarnessError(f"evaluate metric {path} failed to load: {type(exc).__name__}: {exc}") from None
    name = script.stem

    def fn(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
        out = module.compute(predictions=_as_list(y_pred), references=_as_list(y_true))
        if not isinstance(out, dict) or not out:
            raise HarnessError(f"evaluate metric {name} returned {out!r}, expected a dict of values")
        k = key or (next(iter(out)) if len(out) == 1 else name)
        if k not in out:
            raise HarnessError(f"evaluate metric {name} returned {sorted(out)}; pass key= to pick one")
        return float(out[k])

    fn.__name__ = f"evaluate:{name}"
    return fn


def register_evaluate_metric(name: str, path: str | os.PathLike[str], key: str | None = None) -> MetricFn:
    """Load a local ``evaluate`` module and register it under ``name`` for ``compute``."""
    fn = load_evaluate_metric(path, key)
    METRICS[name] = fn
    return fn
