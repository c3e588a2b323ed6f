"""Bumping a method's ``version`` turns its old results stale in the published leaderboard: they
are counted and shown, never averaged in, and a rerun computes fresh cells beside them."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.registry import REGISTRY


def _run_and_publish(runner, suite, res, lb):
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["publish", "--results", str(res), "--out", str(lb)])
    assert out.exit_code == 0, out.output
    lb = lb / "smoke"  # the fake suite's scale: published in its own folder
    return pd.read_csv(lb / "fake.csv").set_index("method"), (lb / "fake.md").read_text()


def test_version_bump_marks_old_cells_stale(tmp_path, monkeypatch):
    runner = CliRunner()
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    res, lb = tmp_path / "res", tmp_path / "lb"
    csv, md = _run_and_publish(runner, suite, res, lb)
    assert csv.loc["good", "status"] == "3/3 ok" and "stale" not in md

    monkeypatch.setattr(REGISTRY.get("method", "good", "fake"), "version", 2)
    out = runner.invoke(main, ["publish", "--results", str(res), "--out", str(lb)])
    assert out.exit_code == 0, out.output
    csv = pd.read_csv(lb / "smoke" / "fake.csv").set_index("method")
    assert csv.loc["good", "status"] == "0/0 ok, 3 stale"  # old cells shown, not averaged in
    assert csv.loc["good", "n_ok"] == 0 and pd.isna(csv.loc["good", "mean"])
    assert csv.loc["plain", "status"] == "3/3 ok"  # other methods are untouched
    md = (lb / "smoke" / "fake.md").read_text()
    assert "0/0 ok, 3 stale" in md and "no ok run" in md

    # rerunning computes the new version's cells (new run keys); the old ones stay and stay stale
    csv, md = _run_and_publish(runner, suite, res, lb)
    assert csv.loc["good", "status"] == "3/3 ok, 3 stale"
    assert csv.loc["good", "mean"] == pytest.approx(csv.loc["plain", "mean"] + 0.5)
    assert len(list(res.glob("fake/*.json"))) == 9
