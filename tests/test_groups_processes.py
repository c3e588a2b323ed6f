"""Cell groups across processes: a worker SIGKILLed during a group (the out-of-memory killer) has the
group split and retried; a run killed during a group keeps every finished cell and its rerun
recomputes only that group; a group's timeout is the per-cell one times its size; two runs on one
results folder compute each cell once (claim files), wait for each other's cells and take over the
claims of a run that is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from conftest import write_suite
from test_groups import _cells, group_suite

from harness.engine.claim_files import ClaimFiles
from harness.engine.estimate import estimate
from harness.engine.executors import LocalExecutor
from harness.engine.groups import form_groups
from harness.engine.runner import base_record
from harness.engine.store import Store


def _trainings(marks) -> Counter:
    return Counter(p.name.split(".")[1] for p in marks.glob("train.*"))


def _cmd(suite, results, *extra):
    return [sys.executable, "-m", "harness.cli", "run", "--suite", str(suite), "--results", str(results), *extra]


def test_worker_sigkilled_during_a_group_splits_it_and_keeps_finished_cells(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv("KEXUE_BENCH_FAKE_MARKERS", str(marks))
    good = _cells(tmp_path, '["good"]', seeds=2)  # plain and good: a group of 4 that finishes
    crash = _cells(tmp_path, '["crash-group"]', seeds=1, dataset="const[offset=2.0]")  # killed as a group
    cells = good + crash
    est = estimate(cells)
    groups = form_groups(cells, est, "on", on_gpu=False)
    assert [g.size for g in groups] == [4, 2]
    store = Store(tmp_path / "res")
    done = []
    LocalExecutor(store, jobs=1, threads=1, memory=est.memory).run(
        groups, lambda c: None, lambda c, r: done.append((c.key, r["status"]))
    )
    assert sorted(k for k, _ in done) == sorted(c.key for c in cells) and {s for _, s in done} == {"ok"}
    assert _trainings(marks) == Counter({c.key: 1 for c in cells})  # the finished group did not run again
    # the crashing group was killed, then its halves (single cells) ran alone
    assert len(list(marks.glob("group.*"))) == 1 + 1
    for c in crash:
        rec = store.read("fake", c.key)
        assert rec["status"] == "ok" and "group" not in rec["provenance"]
    assert {store.read("fake", c.key)["provenance"]["group"]["id"] for c in good} == {groups[0].id}


@pytest.mark.slow
def test_run_killed_during_a_group_rerun_recomputes_only_that_group(tmp_path):
    marks = tmp_path / "marks"
    env = dict(os.environ, KEXUE_BENCH_FAKE_MARKERS=str(marks))
    suite = write_suite(tmp_path / "s.toml", group_suite('["good", "shares"]', seeds=4, sleep=1.5))
    results = tmp_path / "res"
    cmd = _cmd(suite, results, "-j", "1", "--device", "cpu", "--group", "on", "-q")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(marks.glob("group.*"))) < 2:
        time.sleep(0.05)
    second = sorted(marks.glob("group.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))[-1]
    worker = int(second.name.split(".")[2])
    os.kill(proc.pid, signal.SIGKILL)  # the run and its worker, in the middle of the second group
    os.kill(worker, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("fake/*.json")}
    assert len(before) == 4  # the first group (4 of the 12 cells), whole
    claimed = list((results / ".claims" / "fake").glob("*.json"))
    assert len(claimed) == 3  # the killed group's claims stay (its run is gone: stale)
    assert not {p.name for p in claimed} & set(before)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "4 cached" in out.stderr and "8 to run" in out.stderr
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("fake/*.json")}
    assert len(after) == 12 and all(after[name] == t for name, t in before.items())  # nothing finished rerun
    cells = _cells(tmp_path, '["good", "shares"]', seeds=4, sleep=1.5)
    assert _trainings(marks) == Counter({c.key: 1 for c in cells if c.method != "shares"})  # shares: plain's
    assert list((results / ".claims" / "fake").glob("*.json")) == []  # every claim released


def test_a_group_may_run_its_size_times_the_cell_timeout(tmp_path):
    cells = _cells(tmp_path, '["hang"]', seeds=2)  # plain and hang: one group of 4
    est = estimate(cells)
    groups = form_groups(cells, est, "on", on_gpu=False)
    store = Store(tmp_path / "res")
    t0 = time.time()
    LocalExecutor(store, jobs=1, threads=1, timeout=1.0).run(groups, lambda c: None, lambda c, r: None)
    assert time.time() - t0 >= 4.0
    recs = [store.read("fake", c.key) for c in cells]
    assert {r["status"] for r in recs} == {"timeout"}
    assert all("group exceeded --timeout 1s x 4 cells" in r["error"] for r in recs)


@pytest.mark.slow
@pytest.mark.parametrize("group", ["off", "on"])
def test_two_runs_started_together_compute_each_cell_once(tmp_path, group):
    marks = tmp_path / "marks"
    env = dict(os.environ, KEXUE_BENCH_FAKE_MARKERS=str(marks))
    suite = write_suite(tmp_path / "s.toml", group_suite('["good"]', seeds=6, sleep=0.3))
    results = tmp_path / "res"
    cmd = _cmd(suite, results, "-j", "1", "--device", "cpu", "--group", group)
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[1] for p in procs]
    for p, err in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "status: ok 12" in err
    cells = _cells(tmp_path, '["good"]', seeds=6, sleep=0.3)
    assert _trainings(marks) == Counter({c.key: 1 for c in cells})  # each cell computed once
    # what one run computed, the other found cached (it planned later) or waited for and reported
    said = [e.split(" cells were computed by another run")[0].rsplit("\n", 1)[-1] for e in outs]
    cached = [int(e.split(" cached,")[0].rsplit(" ", 1)[-1]) for e in outs]
    assert sum(int(n) for n in said if n.isdigit()) + sum(cached) == 12
    assert list((results / ".claims" / "fake").glob("*.json")) == []


def test_a_run_takes_over_a_dead_runs_claim_and_waits_for_a_live_one(tmp_path):
    marks = tmp_path / "marks"
    env = dict(os.environ, KEXUE_BENCH_FAKE_MARKERS=str(marks))
    suite = write_suite(tmp_path / "s.toml", group_suite('["good"]', seeds=1))
    cells = _cells(tmp_path, '["good"]', seeds=1)
    dead, live = cells
    results = tmp_path / "res"
    store = Store(results)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    other = ClaimFiles(results)
    other.me["pid"] = int(gone.stdout)  # a run that died with its claim
    assert other.take([dead], store)[0] == [dead]
    this = ClaimFiles(results)  # this test process: a live run computing the other cell
    assert this.take([live], store)[0] == [live]
    assert this.stale(dead) == f"process {int(gone.stdout)} is gone" and this.stale(live) == ""
    proc = subprocess.Popen(
        _cmd(suite, results, "-j", "1", "--device", "cpu", "--group", "off"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(120, proc.kill)  # never hangs the suite
    guard.daemon = True
    guard.start()
    said = []
    for line in proc.stderr:  # until the run says it waits (its own cell, the dead run's, is done)
        said.append(line)
        if "waiting for" in line:
            break
    assert said[-1].startswith("waiting for 1 cell(s) that another run is computing (pid ")
    assert store.read("fake", dead.key)["status"] == "ok"
    time.sleep(1.0)
    assert proc.poll() is None  # still waiting for the live claim
    store.write(base_record(live, "ok", metrics={"score": 1.5}))  # the live run records its cell
    this.release(live)
    err = "".join(said) + proc.communicate(timeout=120)[1]
    guard.cancel()
    assert proc.returncode == 0, err
    assert "(computed by another run)" in err and "1 cells were computed by another run" in err
    assert _trainings(marks) == Counter({dead.key: 1})  # the dead run's cell was taken over; the live one not run
