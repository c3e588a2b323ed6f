"""Each CLI command works and answers bad input with one line and exit code 2."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def fake_results(tmp_path, runner):
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    res = tmp_path / "res"
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
    assert out.exit_code == 0, out.output
    return res


def _one_line_error(out, needle):
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], out.output


def test_list(runner):
    out = runner.invoke(main, ["list", "--track", "igr"])
    assert out.exit_code == 0
    assert "small-lr[lr=0.02] (baseline)" in out.output and "egr[mu=0.05,lr=0.02]" in out.output
    assert "  settings " in out.output and "protocol='time'" in out.output
    _one_line_error(runner.invoke(main, ["list", "--track", "igx"]), "did you mean 'igr'")


def test_run_errors(runner, tmp_path):
    _one_line_error(runner.invoke(main, ["run", "--suite", "nosuch"]), "unknown suite")
    _one_line_error(runner.invoke(main, ["run", "--suite", "smoke", "--method", "egx"]), "did you mean 'egr'")
    _one_line_error(runner.invoke(main, ["run", "--suite", "smoke", "--method", "egr[mu=-1]"]), "outside")
    _one_line_error(runner.invoke(main, ["run", "--suite", "smoke", "--track", "fake"]), "no block")
    bad = write_suite(tmp_path / "bad.toml", "[suite]\n[[run]]\ntrack = 1\n")
    _one_line_error(runner.invoke(main, ["run", "--suite", str(bad)]), "bad.toml")
    _one_line_error(
        runner.invoke(
            main, ["run", "--suite", "smoke", "--track", "igr", "--device", "cuda", "--results", str(tmp_path / "r")]
        ),
        "no CUDA device",
    )
    _one_line_error(
        runner.invoke(main, ["run", "--suite", "smoke", "--device", "tpu", "--results", str(tmp_path / "r")]),
        "--device",
    )


def test_dry_run_counts_cells(runner, tmp_path):
    out = runner.invoke(main, ["run", "--suite", "smoke", "--track", "igr", "--dry-run", "--results", str(tmp_path)])
    assert out.exit_code == 0
    assert "dry run: 12 cells to run" in out.output


def test_run_says_the_estimate_before_and_beside_the_measured_time(runner, tmp_path):
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(tmp_path / "r"), "--executor", "inline"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    plan = next(i for i, line in enumerate(lines) if line.startswith("plan: 6 cells to run, estimated ~"))
    first_cell = next(i for i, line in enumerate(lines) if line.startswith("[1/6]"))
    assert plan < first_cell
    assert lines[plan - 1].startswith("  fake: 6 cells, ~1.0 core-minutes, up to 0.5 GiB per cell")
    assert re.search(r"ran 6 cells in [0-9.]+ min \([0-9.]+s; estimated ~1\.0 min\) with 1 job", out.output)


def test_run_report_publish_show(runner, tmp_path, fake_results):
    out = runner.invoke(main, ["report", "--results", str(fake_results), "--out", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "good beats plain" in html and "data:image/png;base64," in html
    out = runner.invoke(main, ["publish", "--results", str(fake_results), "--out", str(tmp_path / "lb")])
    assert out.exit_code == 0
    md = (tmp_path / "lb" / "smoke" / "fake.md").read_text()  # a non-quick scale gets its own folder
    assert "| 1      | good" in md and "reproduced" in md
    key = next(fake_results.glob("fake/*.json")).stem
    out = runner.invoke(main, ["show", key[:8], "--results", str(fake_results)])
    assert out.exit_code == 0 and json.loads(out.output)["key"] == key
    out = runner.invoke(main, ["collect", "--results", str(fake_results), "--out", str(tmp_path / "all.parquet")])
    assert out.exit_code == 0
    import pandas as pd

    df = pd.read_parquet(tmp_path / "all.parquet")
    assert len(df) == 6 and set(df["status"]) == {"ok"} and "m.score" in df
    # rerun: everything cached
    out = runner.invoke(main, ["run", "--suite", str(tmp_path / "s.toml"), "--results", str(fake_results), "-q"])
    assert out.exit_code == 0 and "6 cached" in out.output


def test_report_publish_show_errors(runner, tmp_path, fake_results):
    _one_line_error(runner.invoke(main, ["report", "--results", str(tmp_path / "none")]), "does not exist")
    _one_line_error(runner.invoke(main, ["publish", "--results", str(tmp_path / "none")]), "does not exist")
    _one_line_error(runner.invoke(main, ["report", "--results", str(fake_results), "--track", "igr"]), "no results")
    _one_line_error(runner.invoke(main, ["show", "zz", "--results", str(fake_results)]), "hex")
    _one_line_error(runner.invoke(main, ["show", "abcdef12", "--results", str(fake_results)]), "no result")
    _one_line_error(runner.invoke(main, ["collect", "--results", str(tmp_path / "none")]), "does not exist")


def test_failed_cells_give_exit_code_1_and_show_in_report(runner, tmp_path):
    suite = write_suite(tmp_path / "f.toml", FAKE_SUITE.replace('"good"]', '"good", "raise", "nan"]'))
    res = tmp_path / "res"
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
    assert out.exit_code == 1 and "error 3" in out.output
    out = runner.invoke(main, ["report", "--results", str(res), "--out", str(tmp_path / "rep")])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "**error** RuntimeError: boom" in md and "**diverged**" in md
    assert "0/3 ok, 3 error" in md
