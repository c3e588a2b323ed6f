"""CIFAR loader on a tiny fake copy written in the official python-version layout."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from harness.data.cifar import CIFAR_ENV, raw_cifar
from harness.errors import HarnessError


def write_fake_cifar10(root, n_per_batch: int = 6) -> None:
    """Five train batches and one test batch of random uint8 images, keys as bytes like the original."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {
            b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n_per_batch)],
        }
        with open(base / name, "wb") as fh:
            pickle.dump(d, fh)
    with open(base / "batches.meta", "wb") as fh:  # torchvision reads the class names from here
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh)


def test_raw_cifar_reads_fake_copy(tmp_path):
    write_fake_cifar10(tmp_path)
    r = raw_cifar(str(tmp_path), "cifar10")
    assert r["x_train"].shape == (30, 3, 32, 32) and r["x_train"].dtype == np.uint8
    assert r["y_test"].shape == (6,) and r["num_classes"] == 10


def test_registered_cifar10_on_fake_copy(tmp_path, monkeypatch):
    from harness.data.cifar import cifar10

    write_fake_cifar10(tmp_path)
    monkeypatch.setenv(CIFAR_ENV, str(tmp_path))
    s = cifar10(n_valid=5)
    assert tuple(s.x_train.shape) == (25, 3, 32, 32) and len(s.y_valid) == 5 and len(s.y_test) == 6
    assert s.x_train.dtype.is_floating_point


def test_missing_copy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(CIFAR_ENV, raising=False)
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")  # no copy means a download: never the network in tests
    with pytest.raises(HarnessError, match="KEXUE_BENCH_CIFAR"):
        raw_cifar("", "cifar10")
    with pytest.raises(HarnessError, match="not found"):
        raw_cifar(str(tmp_path), "cifar10")
    with pytest.raises(HarnessError, match="unknown CIFAR variant"):
        raw_cifar(str(tmp_path), "cifar11")


def test_torchvision_layout_matches_when_installed(tmp_path, monkeypatch):
    """Our reader and torchvision's CIFAR10 agree on the same folder (skipped without torchvision)."""
    tv = pytest.importorskip("torchvision", reason="torchvision not installed (optional, paper scale only)")
    write_fake_cifar10(tmp_path)
    # torchvision checks the real archive's md5 sums; the fake copy cannot match them.
    monkeypatch.setattr(tv.datasets.CIFAR10, "_check_integrity", lambda self: True)
    ds = tv.datasets.CIFAR10(str(tmp_path), train=False, download=False)
    r = raw_cifar(str(tmp_path), "cifar10")
    assert np.array_equal(np.asarray(ds.data).transpose(0, 3, 1, 2), r["x_test"])


def test_raw_cifar100_fine_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 8), ("test", 4)):
        d = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": [int(v) for v in rng.integers(0, 100, n)],
            b"coarse_labels": [0] * n,
        }
        with open(base / name, "wb") as fh:
            pickle.dump(d, fh)
    r = raw_cifar(str(tmp_path), "cifar100")
    assert r["x_train"].shape == (8, 3, 32, 32) and r["num_classes"] == 100


def test_corrupt_batch_is_a_clear_error(tmp_path):
    write_fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(HarnessError, match="unreadable or corrupt"):
        raw_cifar(str(tmp_path), "cifar10")
