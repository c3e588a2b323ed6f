from __future__ import annotations

import json

from conftest import FAKE_SUITE, write_suite

from harness.engine.executors import InlineExecutor
from harness.engine.planner import plan
from harness.engine.runner import run_cell
from harness.engine.store import Store, collect
from harness.suite import expand, load_suite


def _cells(tmp_path, methods='["plain", "good"]', seeds=3, settings=""):
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", f"seeds = {seeds}") + settings
    return expand(load_suite(str(write_suite(tmp_path / "s.toml", body))))


def test_statuses_from_the_runner(tmp_path):
    cells = {c.method: c for c in _cells(tmp_path, '["plain", "nan", "raise"]', seeds=1)}
    ok = run_cell(cells["plain"])
    assert ok["status"] == "ok" and ok["metrics"]["score"] == 1.0
    assert ok["provenance"]["threads"] >= 1 and "git_sha" in ok["provenance"]
    div = run_cell(cells["nan"])
    assert div["status"] == "diverged" and div["metrics"] == {"score": 1.0}
    assert "step 3" in div["error"]
    err = run_cell(cells["raise"])
    assert err["status"] == "error" and "boom" in err["error"] and "traceback" in err


def test_atomic_write_and_corrupt_files_are_skipped(tmp_path, capsys):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, seeds=1)
    InlineExecutor(store).run(cells, lambda c: None, lambda c, r: None)
    files = sorted((tmp_path / "res" / "fake").glob("*.json"))
    assert len(files) == 2
    assert not list((tmp_path / "res" / "fake").glob("*.tmp"))
    files[0].write_text(files[0].read_text()[:40])  # a torn file
    (tmp_path / "res" / "fake" / "garbage.json").write_text("[1, 2]")
    df = collect(tmp_path / "res")
    assert len(df) == 1
    assert "skipping unreadable result" in capsys.readouterr().err
    assert store.status("fake", files[0].stem) is None  # a torn file is not a finished result


def test_resume_skips_finished_and_keeps_failed_until_retry(tmp_path):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, '["plain", "raise", "nan"]', seeds=2)
    p = plan(cells, store)
    assert len(p.todo) == 6
    InlineExecutor(store).run(p.todo, lambda c: None, lambda c, r: None)
    p2 = plan(cells, store)
    assert len(p2.todo) == 0
    assert len(p2.cached) == 4  # ok + diverged are honest results
    assert len(p2.failed_kept) == 2  # errors are never cached as success...
    assert len(plan(cells, store, retry_failed=True).todo) == 2  # ...and rerun on request
    assert len(plan(cells, store, force=True).todo) == 6


def test_record_has_cell_identity_and_timing(tmp_path):
    store = Store(tmp_path / "res")
    cells = _cells(tmp_path, seeds=1, settings="[run.settings]\nsleep = 0.05\n")
    InlineExecutor(store).run(cells, lambda c: None, lambda c, r: None)
    rec = json.loads(store.path("fake", cells[0].key).read_text())
    assert rec["cell"]["method"] == cells[0].method and rec["key"] == cells[0].key
    assert rec["train_seconds"] >= 0.05 and rec["wall_seconds"] >= rec["train_seconds"]
