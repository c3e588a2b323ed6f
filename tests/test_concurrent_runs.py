"""Two `harness run` processes on the same results directory at once: every cell ends ``ok`` with
exactly one complete result file, whichever process wrote it, and no temp file is left behind."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import FAKE_SUITE, write_suite

from harness.engine.store import Store
from harness.suite import expand, load_suite


@pytest.mark.slow
def test_two_runs_on_one_results_directory(tmp_path):
    body = FAKE_SUITE.replace("seeds = 3", "seeds = 4") + "[run.settings]\nsleep = 0.3\n"
    suite = write_suite(tmp_path / "s.toml", body)
    results = tmp_path / "res"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--suite", str(suite), "--results", str(results)]
    cmd += ["-j", "1", "--device", "cpu", "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "status: ok 8" in err

    cells = expand(load_suite(str(suite)))
    files = sorted(results.glob("fake/*"))
    hidden = [p.name for p in results.glob("fake/.*")]
    assert hidden == []  # no leftover temp files
    assert sorted(p.stem for p in files) == sorted(c.key for c in cells)  # one file per cell, no extras
    store = Store(results)
    for c in cells:
        rec = json.loads(store.path("fake", c.key).read_text())  # complete, parseable JSON
        assert rec["status"] == "ok" and rec["key"] == c.key
        assert rec["metrics"]["score"] == pytest.approx(1.0 + 0.01 * c.seed + (0.5 if c.method == "good" else 0))
    assert len(store.records()) == len(cells)

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "8 cached" in again.stderr and " 0 to run" in again.stderr
