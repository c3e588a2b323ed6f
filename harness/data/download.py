"""Downloads of the paper datasets: checked against a pinned checksum, cached once, offline afterwards.

Why this shape (torchvision and Hugging Face ``datasets`` are what users know): a file is fetched
once into one cache folder (``$KEXUE_BENCH_DATA``, default ``<user cache>/kexue-bench/data``),
under a file lock so two workers never fetch it twice, into ``<name>.incomplete`` that is renamed
into place only when its checksum matches (torchvision writes straight into the final path, so a
killed download leaves a file that looks finished). An interrupted download is resumed with an HTTP
range request; whatever the bytes went through, the checksum decides. A cached file is checked again
before it is trusted (a corrupt one is fetched anew), then extracted into a temporary folder that is
renamed into place, with the per-file md5s torchvision checks verified once and recorded in a marker.

Offline (no network, or ``KEXUE_BENCH_OFFLINE=1``): a cached copy is used without any request; a
missing one is a one-line error naming the URL, the file name and checksum, and the folder to put
it in. Local copies the user points at (``KEXUE_BENCH_CIFAR``, ``KEXUE_BENCH_SU_SENTIMENT``) are
read by the loaders as before and never touch this module.

Imports nothing heavy (no numpy, no torch): ``harness run --dry-run`` asks ``status`` per block.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

DATA_ENV = "KEXUE_BENCH_DATA"
OFFLINE_ENV = "KEXUE_BENCH_OFFLINE"
MARKER = ".kexue-verified"  # written last into an extracted folder whose files passed their checksums
_CHUNK = 1 << 20
TIMEOUT_S = 60.0
_no_requests: list[str] = []  # why requests are refused now (``harness run --dry-run``)
_HF_OFFLINE = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_user_hf_env: list[dict[str, str | None]] = []  # the user's values while ``no_requests`` overrides them


@dataclass(frozen=True)
class Remote:
    """One downloadable archive: where it is, what it must hash to, and what it unpacks to."""

    name: str  # the key in REMOTES, also what error messages call it
    url: str
    filename: str  # the archive's name in the data folder
    algorithm: str  # "md5" | "sha256"
    digest: str
    folder: str  # the folder the archive unpacks to (relative to the data folder)
    members: dict[str, str] = field(default_factory=dict)  # file in ``folder`` -> md5 ('' = must exist)
    local_env: str = ""  # the variable that points at a local copy instead (named in messages)


_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
_BERT4KERAS_COMMIT = "e0fdcbb803c8a2b3464bd93f6acf7f1c9fb6b763"

# The checksums torchvision pins for the official archives and their files (datasets/cifar.py), and
# the sha256 of bert4keras's sentiment.zip at the pinned commit. Tests swap entries for their own.
REMOTES: dict[str, Remote] = {
    "cifar10": Remote(
        "cifar10",
        _CIFAR_URL + "cifar-10-python.tar.gz",
        "cifar-10-python.tar.gz",
        "md5",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        {
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
        "KEXUE_BENCH_CIFAR",
    ),
    "cifar100": Remote(
        "cifar100",
        _CIFAR_URL + "cifar-100-python.tar.gz",
        "cifar-100-python.tar.gz",
        "md5",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        {
            "train": "16019d7e3df5f24257cddd939b257f8d",
            "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
            "meta": "7973b15100ade9c7d40fb424638fde48",
        },
        "KEXUE_BENCH_CIFAR",
    ),
    "su-sentiment": Remote(
        "su-sentiment",
        f"https://raw.githubusercontent.com/bojone/bert4keras/{_BERT4KERAS_COMMIT}/examples/datasets/sentiment.zip",
        "sentiment.zip",
        "sha256",
        "866256a80e4019e538d2681b5f4bf2f21be3c24139b4100ca266c2fca8be86c9",
        "sentiment",
        {f"sentiment.{split}.data": "" for split in ("train", "valid", "test")},
        "KEXUE_BENCH_SU_SENTIMENT",
    ),
}


def data_home() -> Path:
    """The one folder downloads live in: $KEXUE_BENCH_DATA, else ``data/`` in the artifact cache."""
    root = os.environ.get(DATA_ENV, "")
    if root:
        return Path(os.path.expanduser(root))
    from harness.artifacts import cache_dir

    return cache_dir() / "data"


def offline() -> bool:
    """Whether downloads are switched off ($KEXUE_BENCH_OFFLINE set to anything but '' or 0)."""
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def hub_offline() -> bool:
    """Whether the user keeps the Hugging Face hub offline (their HF_HUB_OFFLINE, or ours), read
    through a dry run's own override."""
    value = _user_hf_env[0]["HF_HUB_OFFLINE"] if _user_hf_env else os.environ.get("HF_HUB_OFFLINE")
    return offline() or (value or "") not in ("", "0")


@contextmanager
def no_requests(why: str) -> Iterator[None]:
    """Within the block every download is a one-line error saying ``why`` (a dry run prices and
    lists, it never fetches, even when a track's estimate loads a dataset) and the Hugging Face
    libraries read their cache only; the environment is restored afterwards."""
    saved = {k: os.environ.get(k) for k in _HF_OFFLINE}
    _user_hf_env.append(saved)
    _no_requests.append(why)
    os.environ.update(dict.fromkeys(_HF_OFFLINE, "1"))
    try:
        yield
    finally:
        _no_requests.remove(why)
        _user_hf_env.remove(saved)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def remote(name: str) -> Remote:
    if name not in REMOTES:
        raise HarnessError(f"no download is known for {name!r} (known: {', '.join(sorted(REMOTES))})")
    return REMOTES[name]


def checksum(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (archives are ~170 MB)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _put_it_here(r: Remote, folder: Path) -> str:
    local = f", or set {r.local_env} to a folder holding an extracted copy" if r.local_env else ""
    return f"put {r.filename} ({r.algorithm} {r.digest}) from {r.url} in {folder}{local}"


def _lock(path: Path):
    from filelock import FileLock

    return FileLock(str(path) + ".lock")


def fetch(r: Remote, folder: Path | None = None) -> Path:
    """The archive of ``r`` in ``folder`` (default: ``data_home()``), downloaded if missing or corrupt.

    A cached file whose checksum matches is returned without any request."""
    folder = Path(folder or data_home())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / r.filename
    with _lock(path):
        if path.is_file():
            if checksum(path, r.algorithm) == r.digest:
                return path
            path.unlink()  # corrupt or changed: never trusted, fetched anew
        if offline():
            raise HarnessError(f"{r.name}: not downloaded and {OFFLINE_ENV} is set; {_put_it_here(r, folder)}")
        if _no_requests:
            raise HarnessError(f"{r.name}: not downloaded yet ({_no_requests[-1]})")
        partial = path.with_name(path.name + ".incomplete")
        _download(r, partial, folder)
        got = checksum(partial, r.algorithm)
        if got != r.digest:
            partial.unlink()
            raise HarnessError(
                f"{r.name}: {r.url} gave a file with {r.algorithm} {got}, expected {r.digest} (corrupt or changed "
                f"upstream; the file was deleted, rerun to fetch it again, or {_put_it_here(r, folder)})"
            )
        os.replace(partial, path)
        return path


def _download(r: Remote, partial: Path, folder: Path) -> None:
    """Stream ``r.url`` into ``partial``, resuming from its current size when the server allows it."""
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(r.url, headers={"User-Agent": "kexue-bench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            resumed = have and resp.status == 206
            with open(partial, "ab" if resumed else "wb") as out:
                shutil.copyfileobj(resp, out, _CHUNK)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at the end: the partial file is already whole
            return
        raise HarnessError(
            f"{r.name}: downloading {r.url} failed (HTTP {exc.code}); {_put_it_here(r, folder)}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise HarnessError(
            f"{r.name}: cannot download {r.url} ({reason}; offline?); {_put_it_here(r, folder)}"
        ) from None


def _extract(archive: Path, into: Path) -> None:
    """Unpack a .tar.gz or .zip into ``into``, refusing members that would land outside it."""
    if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(into, filter="data")
            else:  # Python without extraction filters: check the paths ourselves
                for m in tf.getmembers():
                    if not (into / m.name).resolve().is_relative_to(into.resolve()) or m.issym() or m.islnk():
                        raise HarnessError(f"{archive}: unsafe member {m.name!r}")
                tf.extractall(into)
        return
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if not (into / name).resolve().is_relative_to(into.resolve()):
                raise HarnessError(f"{archive}: unsafe member {name!r}")
        zf.extractall(into)


def _unpacked_folder(r: Remote, tmp: Path) -> Path:
    """Where the archive's files landed: ``r.folder`` if present, else the first folder holding them."""
    if (tmp / r.folder).is_dir():
        return tmp / r.folder
    first = next(iter(r.members), "")
    for here, _, files in os.walk(tmp):
        if first in files:
            return Path(here)
    return tmp


def _check_members(r: Remote, folder: Path, archive: Path) -> None:
    for name, md5 in r.members.items():
        path = folder / name
        if not path.is_file():
            raise HarnessError(f"{r.name}: {archive} holds no {r.folder}/{name} (not the expected archive)")
        if md5 and checksum(path, "md5") != md5:
            raise HarnessError(f"{r.name}: {r.folder}/{name} in {archive} fails its md5 (corrupt archive?)")


def ensure(name: str) -> Path:
    """The extracted folder of download ``name`` (e.g. ``<data>/cifar-10-batches-py``), fetched and
    unpacked on first use; later calls only look for the marker and make no request."""
    r = remote(name)
    home = data_home()
    target = home / r.folder
    if (target / MARKER).is_file():
        return target
    archive = fetch(r, home)
    with _lock(target):
        if (target / MARKER).is_file():
            return target
        tmp = home / f".{r.folder}.extracting-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            _extract(archive, tmp)
            found = _unpacked_folder(r, tmp)
            _check_members(r, found, archive)
            (found / MARKER).write_text(f"{r.algorithm} {r.digest}\n", encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(found, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def status(name: str) -> tuple[bool, str]:
    """(usable, what) for a dry run, without any request: extracted, cached, downloadable, or why not."""
    r = remote(name)
    home = data_home()
    if (home / r.folder / MARKER).is_file():
        return True, f"{r.name} in {home / r.folder}"
    if (home / r.filename).is_file():
        return True, f"{r.name}: {r.filename} in {home} (checked and unpacked on first use)"
    if offline():
        return False, f"{r.name} missing ({OFFLINE_ENV} is set): {_put_it_here(r, home)}"
    return True, f"{r.name} downloads on first use: {r.url} -> {home}"
