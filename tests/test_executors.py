"""The local executor: worker crashes (SIGKILL: recorded ``oom``), hangs and a killed driver never lose or
corrupt results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from conftest import FAKE_SUITE, write_suite

from harness.engine.executors import LocalExecutor
from harness.engine.store import Store
from harness.suite import expand, load_suite


def _cells(tmp_path, methods, seeds=1, sleep=0.0):
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", f"seeds = {seeds}")
    body += f"[run.settings]\nsleep = {sleep}\n"
    return expand(load_suite(str(write_suite(tmp_path / "s.toml", body))))


def test_killed_worker_and_timeout_are_recorded_others_finish(tmp_path):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, '["plain", "good", "crash", "hang"]', seeds=2)
    done = {}
    LocalExecutor(store, jobs=2, timeout=8).run(cells, lambda c: None, lambda c, r: done.__setitem__(c.key, r))
    by_method: dict[str, set] = {}
    for c in cells:
        by_method.setdefault(c.method, set()).add(store.status("fake", c.key))
    assert by_method == {"plain": {"ok"}, "good": {"ok"}, "crash": {"oom"}, "hang": {"timeout"}}
    crash = store.read("fake", next(c.key for c in cells if c.method == "crash"))
    assert "SIGKILL" in crash["error"]


def test_sigkill_of_driver_loses_nothing_and_rerun_recomputes_nothing(tmp_path):
    suite = write_suite(
        tmp_path / "slow.toml",
        FAKE_SUITE.replace("seeds = 3", "seeds = 8") + "[run.settings]\nsleep = 0.4\n",
    )
    results = tmp_path / "res"
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--suite",
        str(suite),
        "--results",
        str(results),
        "-j",
        "2",
        "--device",
        "cpu",
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(results.glob("fake/*.json"))) < 3:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2.0)  # workers finish (and save) their current cell, then see EOF and exit
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("fake/*.json")}
    assert 3 <= len(before) < 16
    store = Store(results)
    assert all(store.read("fake", name[:-5]) for name in before)  # none half-written
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"{len(before)} cached" in out.stderr
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("fake/*.json")}
    assert len(after) == 16
    assert all(after[name] == mtime for name, mtime in before.items())  # nothing recomputed
