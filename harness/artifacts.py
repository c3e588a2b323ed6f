"""Cache for expensive shared artifacts (generated datasets, vocabularies, pretrained tiny models).

Built once per key under the user cache dir (``KEXUE_BENCH_CACHE`` overrides), written
atomically, guarded by a file lock so two workers never build the same artifact at once.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def cache_dir() -> Path:
    """Root of the artifact cache (created on demand)."""
    root = os.environ.get("KEXUE_BENCH_CACHE")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "kexue-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_path(kind: str, key: str, suffix: str = "") -> Path:
    """Where the artifact ``kind/key`` lives; the folder is created."""
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}{suffix}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def cached_pickle(kind: str, key: str, build: Callable[[], T]) -> T:
    """Return the pickled artifact ``kind/key``, building it under a file lock if missing."""
    from filelock import FileLock

    path = artifact_path(kind, key, ".pkl")
    if path.exists():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # a corrupt cache entry is rebuilt, not trusted
            pass
    with FileLock(str(path) + ".lock"):
        if path.exists():
            try:
                with open(path, "rb") as fh:
                    return pickle.load(fh)
            except Exception:
                path.unlink(missing_ok=True)
        value = build()
        atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value


def artifact_lock(kind: str, key: str) -> Any:
    """A file lock for artifacts that are directories (e.g. a model checkpoint folder)."""
    from filelock import FileLock

    return FileLock(str(artifact_path(kind, key, ".lock")))
