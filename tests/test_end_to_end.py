"""The shipped smoke suite, every track, end to end through the CLI with the local executor."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_smoke_suite_runs_reports_and_publishes(tmp_path):
    res, rep, lb = tmp_path / "res", tmp_path / "rep", tmp_path / "lb"
    harness = [sys.executable, "-m", "harness.cli"]
    run = subprocess.run(
        harness + ["run", "--suite", "smoke", "--results", str(res), "-j", "2", "--seeds", "1", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "status: ok" in run.stderr
    out = subprocess.run(
        harness + ["report", "--results", str(res), "--out", str(rep)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    html = (rep / "report.html").read_text()
    assert "Track <code>igr</code>" in html and "<img" in html
    assert "check failed" not in html  # every claim of every track evaluates on real results
    out = subprocess.run(
        harness + ["publish", "--results", str(res), "--out", str(lb)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    tracks = {p.parent.name for p in res.glob("*/*.json") if not p.parent.name.startswith(".")}  # not .exact/
    for track in tracks:  # smoke-scale tables go to their own folder, never over the quick ones
        for ext in ("md", "csv", "seeds.csv", "claims.csv"):
            assert (lb / "smoke" / f"{track}.{ext}").exists(), (track, ext)
    assert not list(lb.glob("*.md"))
    # a warm rerun runs nothing
    again = subprocess.run(
        harness + ["run", "--suite", "smoke", "--results", str(res), "--seeds", "1", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and " 0 to run" in again.stderr
