"""CIFAR-10/100 from the official "python version" archive (paper scale only).

CIFAR is not bundled on PyPI, so the archive is downloaded once on first use, checked against the
md5s torchvision pins and cached (``harness.data.download``: ``$KEXUE_BENCH_DATA``); offline, a
cached copy is used. A local copy keeps working: ``root`` (or ``KEXUE_BENCH_CIFAR``) is a folder
that holds ``cifar-10-batches-py/`` (or ``cifar-100-python/``), the layout
``torchvision.datasets.CIFAR10(root, download=True)`` leaves behind. The pickled batches are read
directly with numpy, so torchvision is not needed. ``raw_cifar`` returns plain arrays so other
loaders (long-tailed CIFAR) can reuse it.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from harness.data.base import TensorSplits
from harness.data.images import split_off, subset, to_splits
from harness.errors import HarnessError
from harness.registry import dataset

CIFAR_ENV = "KEXUE_BENCH_CIFAR"
_LAYOUT = {
    # which -> (folder, train files, test files, label key, number of classes)
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}
_HINT = (
    f"unset {CIFAR_ENV} to download it, or point it at a folder with the extracted 'python version' archive "
    "(https://www.cs.toronto.edu/~kriz/cifar.html; the layout torchvision.datasets.CIFAR10(root, download=True) leaves)"
)


def cifar_root(root: str = "", which: str = "cifar10") -> str:
    """The folder that holds the extracted archive: ``root`` if given, else $KEXUE_BENCH_CIFAR, else the
    download cache (fetched and checked on first use)."""
    root = root or os.environ.get(CIFAR_ENV, "")
    if root:
        return os.path.expanduser(root)
    from harness.data.download import ensure

    return str(ensure(which).parent)


def _read_batch(path: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
    except FileNotFoundError:
        raise HarnessError(f"CIFAR file missing: {path}; " + _HINT) from None
    except Exception as exc:
        raise HarnessError(f"CIFAR file {path} is unreadable or corrupt: {exc}") from exc
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise HarnessError(f"CIFAR file {path} lacks 'data'/{label_key!r} (not the python-version archive?)")
    x = np.asarray(d["data"], dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise HarnessError(f"CIFAR file {path}: expected rows of 3072 bytes, got shape {x.shape}")
    return x.reshape(-1, 3, 32, 32), np.asarray(d[label_key], dtype=np.int64)


def raw_cifar(root: str, which: str = "cifar10") -> dict[str, np.ndarray]:
    """Official CIFAR train/test as uint8 arrays (N, 3, 32, 32) and int64 labels.

    Returns ``{"x_train", "y_train", "x_test", "y_test", "num_classes"}``; ``which`` is
    ``"cifar10"`` or ``"cifar100"`` (fine labels). Raises HarnessError with the fix when the copy
    is absent or malformed.
    """
    if which not in _LAYOUT:
        raise HarnessError(f"unknown CIFAR variant {which!r} (allowed: {', '.join(_LAYOUT)})")
    folder, train_files, test_files, label_key, k = _LAYOUT[which]
    base = os.path.join(cifar_root(root, which), folder)
    if not os.path.isdir(base):
        raise HarnessError(f"CIFAR folder not found: {base}; " + _HINT)
    parts = {}
    for split, files in (("train", train_files), ("test", test_files)):
        xs, ys = zip(*(_read_batch(os.path.join(base, f), label_key) for f in files))
        parts[f"x_{split}"] = np.concatenate(xs)
        parts[f"y_{split}"] = np.concatenate(ys)
    for split in ("train", "test"):
        y = parts[f"y_{split}"]
        if y.min() < 0 or y.max() >= k:
            raise HarnessError(f"CIFAR {which} {split} labels outside [0, {k})")
    return {**parts, "num_classes": k}


# Per-channel statistics of the CIFAR-10 training set (a standard fact, used for normalisation).
_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
_STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


@dataset(
    "cifar10",
    tracks=("weightreg", "igr"),
    bounds={"n_train": (0, 50000), "n_valid": (0, 10000), "n_test": (0, 10000)},
    downloads=("cifar10",),
)
def cifar10(
    n_train: int = 0, n_valid: int = 5000, n_test: int = 0, normalize: bool = True, subset_seed: int = 0
) -> TensorSplits:
    """CIFAR-10 (paper scale), downloaded once or from a local copy ($KEXUE_BENCH_CIFAR); n_valid rows tune.

    The folder is not a parameter, so it stays out of the run key. ``n_valid`` rows are split off
    train for tuning; n_train / n_test subset the rest (0 = all). Inputs are floats (N, 3, 32, 32)
    scaled to [0, 1] and, with ``normalize``, standardised per channel."""
    r = raw_cifar("", "cifar10")
    if n_valid >= len(r["y_train"]):
        raise HarnessError(f"cifar10: n_valid={n_valid} leaves no training rows")

    def prep(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0
        return (x - _MEAN) / _STD if normalize else x

    xtr, ytr, xva, yva = split_off(r["x_train"], r["y_train"], n_valid, subset_seed + 1)
    xtr, ytr = subset(xtr, ytr, n_train, subset_seed)
    xte, yte = subset(r["x_test"], r["y_test"], n_test, subset_seed + 2)
    return to_splits(
        "cifar10",
        dict(x_train=prep(xtr), y_train=ytr, x_valid=prep(xva), y_valid=yva, x_test=prep(xte), y_test=yte),
        10,
    )
