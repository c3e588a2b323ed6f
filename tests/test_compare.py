"""`harness compare`: published leaderboard vs a results directory, with the fake track."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.compare import compare, welch_p


@pytest.fixture()
def published(tmp_path):
    """Fake-track results (3 seeds: plain 1.00/1.01/1.02, good +0.5) and their published CSV."""
    runner = CliRunner()
    res, lb = tmp_path / "res", tmp_path / "lb"
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE)
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["publish", "--results", str(res), "--out", str(lb)])
    assert out.exit_code == 0, out.output
    return res, lb / "smoke"  # a scale other than quick is published in its own sub-folder


def _shift_published(lb, method: str, by: float, seeds: bool = True) -> None:
    """Shift a published row's mean (and its per-seed values, unless ``seeds`` is False)."""
    path = lb / "fake.csv"
    df = pd.read_csv(path)
    df.loc[df["method"] == method, "mean"] += by
    df.to_csv(path, index=False)
    if seeds:
        path = lb / "fake.seeds.csv"
        df = pd.read_csv(path)
        df.loc[df["method"] == method, "score"] += by
        df.to_csv(path, index=False)


def _invoke(*args):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


def test_unchanged_results_pass(published):
    res, lb = published
    out = _invoke("--results", res, "--leaderboards", lb)
    assert out.exit_code == 0, out.output
    assert "compared 2 row(s) (2 paired over seeds): 0 moved beyond seed noise" in out.output


def test_shift_within_seed_noise_is_not_flagged(published):
    res, lb = published
    (lb / "fake.seeds.csv").unlink()  # no per-seed data: Welch on the summary statistics
    _shift_published(lb, "good", 0.004, seeds=False)  # seed std is 0.01
    out = _invoke("--results", res, "--leaderboards", lb, "--all")
    assert out.exit_code == 0, out.output
    assert "within noise" in out.output


def test_regression_and_improvement_are_flagged_with_exit_code_1(published):
    res, lb = published
    _shift_published(lb, "good", 0.2)  # published better than now: we got worse
    _shift_published(lb, "plain", -0.2)  # published worse than now: we got better
    out = _invoke("--results", res, "--leaderboards", lb)
    assert out.exit_code == 1, out.output
    assert "MOVED worse" in out.output and "MOVED better" in out.output
    assert "2 moved beyond seed noise (1 worse)" in out.output
    cmp = compare(res, lb)
    worse = {c.method: c for c in cmp.worse}
    assert list(worse) == ["good"] and worse["good"].delta == pytest.approx(-0.2)
    # only a regression fails with --only-worse
    _shift_published(lb, "good", -0.2)
    assert _invoke("--results", res, "--leaderboards", lb, "--only-worse").exit_code == 0
    assert _invoke("--results", res, "--leaderboards", lb).exit_code == 1


def test_rows_missing_from_results_are_listed_not_failed(published, tmp_path):
    res, lb = published
    df = pd.read_csv(lb / "fake.csv")
    extra = df.iloc[[0]].assign(method="retired-method")
    pd.concat([df, extra]).to_csv(lb / "fake.csv", index=False)
    out = _invoke("--results", res, "--leaderboards", lb)
    assert out.exit_code == 0, out.output
    assert "retired-method" in out.output and "1 published but missing" in out.output


def test_missing_or_bad_files_are_one_line_errors(published, tmp_path):
    res, lb = published
    for args, needle in [
        (["--results", res, "--leaderboards", tmp_path / "nope"], "not found"),
        (["--results", tmp_path / "nores", "--leaderboards", lb], "does not exist"),
        (["--results", res, "--leaderboards", tmp_path], "no leaderboard CSV files"),
    ]:
        out = _invoke(*args)
        assert out.exit_code == 2, out.output
        lines = [line for line in out.output.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], out.output
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    out = _invoke("--results", res, "--leaderboards", tmp_path / "bad.csv")
    assert out.exit_code == 2 and "lacks column(s)" in out.output


def test_welch_p_matches_scipy_and_handles_degenerate_rows():
    from scipy.stats import ttest_ind_from_stats

    ref = ttest_ind_from_stats(0.9, 0.02, 5, 0.87, 0.03, 3, equal_var=False).pvalue
    assert welch_p(0.9, 0.02, 5, 0.87, 0.03, 3) == pytest.approx(ref)
    assert welch_p(0.5, 0.0, 3, 0.5, 0.0, 3) == 1.0  # deterministic and equal
    assert welch_p(0.5, 0.0, 3, 0.51, 0.0, 3) == 0.0  # deterministic and different
    assert welch_p(0.5, math.nan, 1, 0.5, 0.01, 3) == pytest.approx(1.0)  # n=1 borrows the other std
    assert welch_p(0.5, math.nan, 1, 0.8, 0.01, 3) < 0.01
    assert math.isnan(welch_p(math.nan, math.nan, 0, 0.5, 0.01, 3))


def test_paired_over_seeds_sees_a_shift_welch_cannot(published):
    """A shift of 0.004 per seed is inside the seed-to-seed spread (std 0.01), so the summary
    statistics cannot see it, but every seed moved by the same amount: paired, it is a move."""
    res, lb = published
    _shift_published(lb, "good", 0.004)
    paired = {c.method: c for c in compare(res, lb).changes}
    assert paired["good"].test == "paired" and paired["good"].moved
    (lb / "fake.seeds.csv").unlink()
    welch = {c.method: c for c in compare(res, lb).changes}
    assert welch["good"].test == "welch" and not welch["good"].moved
