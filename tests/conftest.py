"""Shared fixtures: the fake plugin track is visible to this process and to worker subprocesses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
os.environ["KEXUE_BENCH_PLUGINS"] = "fake_plugin"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Artifacts built by tests go to a per-session cache, never the user's; downloads are off (the
    download tests switch them on against a loopback server)."""
    cache = tmp_path_factory.getbasetemp() / "artifact-cache"
    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(cache))
    monkeypatch.delenv("KEXUE_BENCH_DATA", raising=False)
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")


def write_suite(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


FAKE_SUITE = """
[suite]
name = "fake"
scale = "smoke"
seeds = 3

[[run]]
track = "fake"
datasets = ["const"]
methods = ["plain", "good"]
"""
