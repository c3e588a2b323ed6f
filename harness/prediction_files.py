"""Per-example predictions of one cell: what a track records, and the compact file beside its result.

Why a file beside the JSON record instead of inside it: a test split of 10,000 examples is 30,000
integers, which would make every record (and every ``harness show``) unreadable, while a
compressed ``.npz`` of small integer types takes a few kB. The JSON record keeps a summary (file
name, examples per split, a digest of the file and of each split's example ids), and it stays the
commit point: the file is written first, so a record never points to a file that was not written,
and the digest catches a file that a later, interrupted rerun replaced.

Only numpy here (no torch, no pandas): ``report``, ``publish`` and the claims read these files.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

FIELDS = ("predicted", "labels", "ids")
_INT_TYPES = (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64)


class PredictionFileError(Exception):
    """A prediction file that is missing, unreadable or not the one its record describes."""


@dataclass(frozen=True)
class Predictions:
    """One split's predictions of one cell: integer classes, true labels and the examples' ids.

    ``ids`` name the examples within the dataset's split (the same id is the same example for every
    cell of the same dataset), so two cells scored on different subsets can be compared on the
    examples they share.
    """

    predicted: np.ndarray
    labels: np.ndarray
    ids: np.ndarray

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def correct(self) -> np.ndarray:
        """Boolean per example: predicted == label."""
        return self.predicted == self.labels


def to_numpy(values: Any) -> np.ndarray:
    """A 1-D numpy array from a list, numpy array or (CPU or GPU) torch tensor, without importing torch."""
    if hasattr(values, "detach"):  # a torch tensor: leave the graph and the device
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _as_ints(values: Any, what: str) -> np.ndarray:
    arr = to_numpy(values)
    if arr.ndim != 1:
        raise HarnessError(f"record_predictions: {what} must be one value per example (got shape {arr.shape})")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise HarnessError(f"record_predictions: {what} must be integer classes, got non-integer values")
    elif arr.dtype.kind not in "iu":
        raise HarnessError(f"record_predictions: {what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def make_predictions(predicted: Any, labels: Any, ids: Any = None) -> Predictions:
    """Validated int64 predictions (``ids`` default 0..n-1); a one-line HarnessError on bad input."""
    pred, lab = _as_ints(predicted, "predicted"), _as_ints(labels, "labels")
    if len(pred) != len(lab):
        raise HarnessError(f"record_predictions: {len(pred)} predictions for {len(lab)} labels")
    idx = np.arange(len(pred), dtype=np.int64) if ids is None else _as_ints(ids, "ids")
    if len(idx) != len(pred):
        raise HarnessError(f"record_predictions: {len(idx)} ids for {len(pred)} predictions")
    if len(np.unique(idx)) != len(idx):
        raise HarnessError("record_predictions: example ids must be unique")
    return Predictions(pred, lab, idx)


def compact(values: np.ndarray) -> np.ndarray:
    """The same integers in the smallest integer type that holds them all (uint8 for 0/1 labels)."""
    values = np.asarray(values, dtype=np.int64)
    if not values.size:
        return values.astype(np.uint8)
    lo, hi = int(values.min()), int(values.max())
    for dtype in _INT_TYPES:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype)
    return values


def ids_digest(ids: np.ndarray) -> str:
    """A short digest of a split's example-id set (order-free): equal digests, same examples."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype=np.int64)).tobytes()).hexdigest()[:16]


def encode(splits: Mapping[str, Predictions]) -> bytes:
    """The compressed ``.npz`` bytes of every split (arrays ``<split>.predicted|labels|ids``)."""
    arrays = {f"{split}.{f}": compact(getattr(p, f)) for split, p in splits.items() for f in FIELDS}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def summary(file_name: str, splits: Mapping[str, Predictions], data: bytes) -> dict[str, Any]:
    """What the JSON record keeps about its prediction file: name, sha256, n and id digest per split."""
    return {
        "file": file_name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "splits": {s: {"n": p.n, "ids": ids_digest(p.ids)} for s, p in splits.items()},
    }


def load(path: str | Path, sha256: str | None = None) -> dict[str, Predictions]:
    """Every split of a prediction file; ``sha256`` (from the record) guards against a replaced file.

    Raises PredictionFileError with a one-line reason (missing, corrupt, not the record's file)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PredictionFileError(f"prediction file {path} is missing or unreadable ({exc.strerror or exc})") from None
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise PredictionFileError(f"prediction file {path} is not the one its result record describes (sha256)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise PredictionFileError(f"prediction file {path} is corrupt ({type(exc).__name__}: {exc})") from None
    out: dict[str, Predictions] = {}
    for split in sorted({name.rsplit(".", 1)[0] for name in arrays}):
        try:
            parts = [arrays[f"{split}.{f}"].astype(np.int64) for f in FIELDS]
        except KeyError as exc:
            raise PredictionFileError(f"prediction file {path} lacks {exc.args[0]}") from None
        if not (len(parts[0]) == len(parts[1]) == len(parts[2])):
            raise PredictionFileError(f"prediction file {path}: split {split!r} has arrays of different lengths")
        out[split] = Predictions(*parts)
    if not out:
        raise PredictionFileError(f"prediction file {path} holds no predictions")
    return out


def load_split(path: str | Path, sha256: str | None = None, split: str = "test") -> Predictions:
    """One split of a prediction file (PredictionFileError when the file or the split is missing)."""
    splits = load(path, sha256)
    if split not in splits:
        raise PredictionFileError(f"prediction file {path} has no {split!r} split (has: {', '.join(splits)})")
    return splits[split]
