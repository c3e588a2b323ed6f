"""Downloads against a server on the loopback address, serving small archives made here (the real
layouts, their own checksums): first download, cache hit, corrupt cache, server gone, wrong checksum,
resumed partial file, offline mode. Never the network."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_cifar import write_fake_cifar10

from harness.data import download
from harness.data.download import MARKER, Remote
from harness.errors import HarnessError


class FileServer:
    """Serves ``files`` (path -> bytes) on 127.0.0.1, honours ``Range: bytes=N-``, counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (path, Range header)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                rng = self.headers.get("Range", "")
                owner.requests.append((self.path, rng))
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng[len("bytes=") : -1]) if rng.startswith("bytes=") and rng.endswith("-") else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Downloads on (conftest turns them off), into a fresh data folder."""
    monkeypatch.delenv("KEXUE_BENCH_OFFLINE", raising=False)
    monkeypatch.delenv("KEXUE_BENCH_CIFAR", raising=False)
    monkeypatch.delenv("KEXUE_BENCH_SU_SENTIMENT", raising=False)
    monkeypatch.setenv(download.DATA_ENV, str(tmp_path / "data"))
    return tmp_path / "data"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def cifar10_archive(tmp_path) -> tuple[bytes, dict[str, str]]:
    """A small cifar-10-python.tar.gz in the official layout and its per-file md5s."""
    src = tmp_path / "src"
    write_fake_cifar10(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    members = {p.name: _md5(p.read_bytes()) for p in (src / "cifar-10-batches-py").iterdir()}
    return buf.getvalue(), members


@pytest.fixture
def cifar(tmp_path, server, online, monkeypatch):
    """The CIFAR-10 entry of the download table pointed at the loopback server's own small archive."""
    body, members = cifar10_archive(tmp_path)
    server.files["/cifar-10-python.tar.gz"] = body
    entry = replace(
        download.REMOTES["cifar10"], url=server.url + "/cifar-10-python.tar.gz", digest=_md5(body), members=members
    )
    monkeypatch.setitem(download.REMOTES, "cifar10", entry)
    return entry, body


def test_first_use_downloads_checks_and_unpacks(cifar, server, online):
    from harness.data.cifar import raw_cifar

    r = raw_cifar("", "cifar10")
    assert r["x_train"].shape == (30, 3, 32, 32) and r["num_classes"] == 10
    assert len(server.requests) == 1
    assert (online / "cifar-10-python.tar.gz").is_file() and (online / "cifar-10-batches-py" / MARKER).is_file()
    assert not list(online.glob("*.incomplete")) and not list(online.glob(".*extracting*"))


def test_cache_hit_makes_no_request(cifar, server, online):
    from harness.data.cifar import raw_cifar

    raw_cifar("", "cifar10")
    raw_cifar("", "cifar10")
    download.ensure("cifar10")
    assert len(server.requests) == 1
    # the unpacked folder gone, the archive kept: unpacked again from the checked archive, no request
    shutil.rmtree(online / "cifar-10-batches-py")
    download.ensure("cifar10")
    assert len(server.requests) == 1


def test_corrupt_cached_archive_is_fetched_again(cifar, server, online):
    entry, body = cifar
    online.mkdir(parents=True)
    (online / entry.filename).write_bytes(body[: len(body) // 2] + b"garbage")
    folder = download.ensure("cifar10")
    assert (folder / "data_batch_1").is_file() and len(server.requests) == 1
    assert (online / entry.filename).read_bytes() == body


def test_server_gone_is_one_line_naming_url_and_folder(cifar, server, online):
    entry, _ = cifar
    server.stop()
    with pytest.raises(HarnessError) as err:
        download.ensure("cifar10")
    msg = str(err.value)
    assert "\n" not in msg and entry.url in msg and str(online) in msg and "KEXUE_BENCH_CIFAR" in msg


def test_wrong_checksum_is_refused_and_nothing_is_kept(cifar, server, online, monkeypatch):
    entry, _ = cifar
    monkeypatch.setitem(download.REMOTES, "cifar10", replace(entry, digest="0" * 32))
    with pytest.raises(HarnessError, match="expected 0000") as err:
        download.ensure("cifar10")
    assert "\n" not in str(err.value)
    assert not (online / entry.filename).exists() and not list(online.glob("*.incomplete"))
    assert not (online / "cifar-10-batches-py").exists()


def test_partial_download_is_resumed_and_checked(cifar, server, online):
    entry, body = cifar
    online.mkdir(parents=True)
    half = len(body) // 2
    (online / (entry.filename + ".incomplete")).write_bytes(body[:half])
    download.ensure("cifar10")
    assert server.requests == [("/cifar-10-python.tar.gz", f"bytes={half}-")]
    assert (online / entry.filename).read_bytes() == body


def test_partial_file_with_wrong_bytes_fails_its_checksum(cifar, server, online):
    """A resumed download whose first part is not the file's is caught by the checksum and deleted."""
    entry, body = cifar
    online.mkdir(parents=True)
    (online / (entry.filename + ".incomplete")).write_bytes(b"x" * 100)
    with pytest.raises(HarnessError, match="expected"):
        download.ensure("cifar10")
    assert not list(online.glob("*.incomplete")) and not (online / entry.filename).exists()
    download.ensure("cifar10")  # the next try starts from scratch and succeeds
    assert (online / entry.filename).read_bytes() == body


def test_member_md5_mismatch_is_refused(cifar, server, online, monkeypatch):
    entry, _ = cifar
    bad = dict(entry.members, test_batch="f" * 32)
    monkeypatch.setitem(download.REMOTES, "cifar10", replace(entry, members=bad))
    with pytest.raises(HarnessError, match="test_batch .*fails its md5"):
        download.ensure("cifar10")
    assert not (online / "cifar-10-batches-py").exists()


def test_offline_uses_the_cache_and_names_the_fix_when_empty(cifar, server, online, monkeypatch):
    entry, _ = cifar
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")
    with pytest.raises(HarnessError) as err:
        download.ensure("cifar10")
    assert entry.filename in str(err.value) and str(online) in str(err.value) and not server.requests
    assert download.status("cifar10")[0] is False
    monkeypatch.delenv("KEXUE_BENCH_OFFLINE")
    assert download.status("cifar10") == (True, f"cifar10 downloads on first use: {entry.url} -> {online}")
    download.ensure("cifar10")
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")
    assert download.ensure("cifar10").is_dir() and len(server.requests) == 1
    assert download.status("cifar10") == (True, f"cifar10 in {online / 'cifar-10-batches-py'}")


def test_local_copy_wins_over_the_download(cifar, server, online, tmp_path, monkeypatch):
    from harness.data.cifar import raw_cifar

    write_fake_cifar10(tmp_path / "mine", n_per_batch=2)
    monkeypatch.setenv("KEXUE_BENCH_CIFAR", str(tmp_path / "mine"))
    assert raw_cifar("", "cifar10")["x_train"].shape[0] == 10 and not server.requests


def test_su_sentiment_zip_downloads_and_loads(server, online, monkeypatch):
    from harness.data.su_sentiment import su_sentiment

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("train", "valid", "test"):
            zf.writestr(f"sentiment/sentiment.{split}.data", "很好\t1\n太差了\t0\n不错\t1\n")
    body = buf.getvalue()
    server.files["/sentiment.zip"] = body
    entry = replace(
        download.REMOTES["su-sentiment"], url=server.url + "/sentiment.zip", digest=hashlib.sha256(body).hexdigest()
    )
    monkeypatch.setitem(download.REMOTES, "su-sentiment", entry)
    s = su_sentiment()
    assert s.train_texts[:2] == ["很好", "太差了"] and s.meta["sizes"] == {"train": 3, "valid": 3, "test": 3}
    su_sentiment()
    assert len(server.requests) == 1


def test_unknown_download_is_one_line():
    with pytest.raises(HarnessError, match="no download is known for 'imagenet'"):
        download.remote("imagenet")


def test_unsafe_archive_member_is_refused(server, online, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape.txt", "x")
    body = buf.getvalue()
    server.files["/bad.zip"] = body
    entry = Remote("bad", server.url + "/bad.zip", "bad.zip", "md5", _md5(body), "bad", {"escape.txt": ""})
    monkeypatch.setitem(download.REMOTES, "bad", entry)
    with pytest.raises(HarnessError, match="unsafe member"):
        download.ensure("bad")
    assert not (online.parent / "escape.txt").exists()
