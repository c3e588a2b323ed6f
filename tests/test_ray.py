"""The Ray executor on a real local Ray (2 CPUs): same numbers as the local executor, a killed
worker fails only its cell, a hung cell is cancelled as ``timeout``; and the no-Ray error path."""

from __future__ import annotations

import logging
import os
import sys

import pytest
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.engine.executor_factory import make_executor
from harness.engine.executors import LocalExecutor
from harness.engine.store import Store
from harness.errors import HarnessError
from harness.suite import expand, load_suite

IGR_SUITE = """
[suite]
name = "igr-ray"
scale = "smoke"
seeds = 1

[[run]]
track = "igr"
datasets = ["digits[n_train=200,n_valid=100]"]
methods = ["small-lr"]
[run.settings]
time = 2.0
hidden = 32
noise_draws = 2
"""


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'kexue-bench[ray]')")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 * 1024**2,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def _fake_cells(tmp_path, methods: str, seeds: int):
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", f"seeds = {seeds}")
    return expand(load_suite(str(write_suite(tmp_path / "fake.toml", body))))


def _metrics(store: Store, cells) -> dict[str, dict[str, float]]:
    return {c.key: store.read(c.track, c.key)["metrics"] for c in cells}


@pytest.mark.slow
def test_ray_matches_local_and_isolates_crashes_and_hangs(tmp_path, ray_cluster):
    from harness.engine.ray_executor import RayExecutor

    good = _fake_cells(tmp_path, '["plain", "good"]', seeds=2)
    bad = [c for c in _fake_cells(tmp_path, '["crash", "hang"]', seeds=1) if c.method != "plain"]
    igr = expand(load_suite(str(write_suite(tmp_path / "igr.toml", IGR_SUITE))))
    ray_store = Store(tmp_path / "ray")
    started, done = [], {}
    ex = RayExecutor(ray_store, jobs=2, threads=1)
    ex.run(good + igr, started.append, lambda c, r: done.__setitem__(c.key, r["status"]))
    ex.timeout = 3.0  # the hung cell is cancelled 3 s after it starts
    ex.run(bad, started.append, lambda c, r: done.__setitem__(c.key, r["status"]))
    assert ray_cluster.is_initialized()  # an executor that attached to a running Ray leaves it running
    by_method = {c.method: ray_store.status(c.track, c.key) for c in good + bad + igr}
    assert by_method == {"plain": "ok", "good": "ok", "crash": "error", "hang": "timeout", "small-lr": "ok"}
    assert len(done) == len(started) == len(good + bad + igr)
    crash = ray_store.read("fake", next(c.key for c in bad if c.method == "crash"))
    assert "WorkerCrashedError" in crash["error"]
    assert ray_store.read("igr", igr[0].key)["provenance"]["threads"] == 1

    local_store = Store(tmp_path / "local")
    LocalExecutor(local_store, jobs=2, threads=1).run(good + igr, lambda c: None, lambda c, r: None)
    ray_m, local_m = _metrics(ray_store, good + igr), _metrics(local_store, good + igr)
    assert ray_m == local_m  # bit-identical: same seeds, same threads, same code
    # the driver writes the per-example predictions the task returned, beside the record
    ray_pred, local_pred = (s.predictions("igr", igr[0].key)["test"] for s in (ray_store, local_store))
    assert ray_pred.n > 0 and (ray_pred.predicted == local_pred.predicted).all()
    assert {c.key: ray_m[c.key]["score"] for c in good} == {
        c.key: 1.0 + 0.01 * c.seed + (0.5 if c.method == "good" else 0.0) for c in good
    }


def test_without_ray_executor_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(HarnessError, match=r"pip install 'kexue-bench\[ray\]'"):
        make_executor("ray", Store(tmp_path / "res"))
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    out = CliRunner().invoke(
        main, ["run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--executor", "ray"]
    )
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.strip().splitlines() if line.startswith("error:")]
    assert lines == ["error: --executor ray needs Ray, which is not installed: pip install 'kexue-bench[ray]'"]
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*/*.json"))


@pytest.mark.slow
def test_ray_asks_for_each_cells_memory_and_refuses_what_no_node_has(tmp_path, ray_cluster):
    from harness.engine.ray_executor import RayExecutor

    cells = _fake_cells(tmp_path, '["plain", "good"]', seeds=1)
    need = {cells[0].key: 100 * 1024**2, cells[1].key: 10**15}  # 100 MiB; 1 PB
    store = Store(tmp_path / "ray-mem")
    RayExecutor(store, jobs=2, threads=1, memory=need).run(cells, lambda c: None, lambda c, r: None)
    assert store.status("fake", cells[0].key) == "ok"
    big = store.read("fake", cells[1].key)
    assert big["status"] == "oom" and "not started: declares" in big["error"]


@pytest.mark.slow
def test_ray_runs_groups_as_tasks_and_splits_a_crashed_one(tmp_path, ray_cluster):
    from test_groups import _cells

    from harness.engine.estimate import estimate
    from harness.engine.groups import form_groups
    from harness.engine.ray_executor import RayExecutor

    mixed = _cells(tmp_path, '["good", "nan"]', seeds=1)  # plain, good and nan: one group of 3
    crash = _cells(tmp_path, '["crash-group"]', seeds=1, dataset="const[offset=2.0]")  # its worker dies
    cells = mixed + crash
    est = estimate(cells)
    groups = form_groups(cells, est, "on", on_gpu=False)
    assert sorted(g.size for g in groups) == [2, 3]
    store = Store(tmp_path / "ray-groups")
    started, done = [], []
    RayExecutor(store, jobs=2, threads=1, memory=est.memory).run(
        groups, started.append, lambda c, r: done.append(c.key)
    )
    assert sorted(done) == sorted(c.key for c in started) == sorted(c.key for c in cells)  # each once
    recs = {c.key: store.read("fake", c.key) for c in cells}
    assert {c.method: recs[c.key]["status"] for c in mixed} == {"plain": "ok", "good": "ok", "nan": "diverged"}
    assert {recs[c.key]["provenance"]["group"]["size"] for c in mixed} == {3}
    assert {recs[c.key]["status"] for c in crash} == {"ok"}  # after the split, each alone
    assert all("group" not in recs[c.key]["provenance"] for c in crash)
