"""``harness run --decide`` and ``harness plan`` end to end on the fake track.

The fake track's ``jitter`` arm is 0.2 above ``plain`` with seed noise of sd 0.1: undecided at the
suite's 3 seeds, decided once the design adds seeds; ``good`` is exactly 0.5 above ``plain`` (zero
spread), decided at the first look. Nothing here trains a model.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import write_suite

from harness.cli import main
from harness.engine.batch import ExecOptions
from harness.errors import HarnessError
from harness.sequential import design as designs
from harness.sequential.engine import Engine
from harness.sequential.ledger import FileLedger
from harness.sequential.sources import ExecutorRunner, ResultsSource

SUITE = """
[suite]
name = "fake-decide"
scale = "smoke"
seeds = 3

[[run]]
track = "fake"
datasets = ["const"]
methods = ["plain", "good", "jitter"]
"""


def _run(args: list[str]):
    return CliRunner().invoke(main, args)


def _decide(suite, res, *extra: str):
    """``harness run --decide`` on the fake suite, inline, quiet, with ``extra`` options."""
    return _run(["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q", "--decide", *extra])


@pytest.fixture()
def plain_run(tmp_path):
    suite, res = write_suite(tmp_path / "s.toml", SUITE), tmp_path / "res"
    out = _run(["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"])
    assert out.exit_code == 0, out.output
    return suite, res


def _records(res) -> dict[tuple[str, int], float]:
    out = {}
    for path in (res / "fake").glob("*.json"):
        rec = json.loads(path.read_text())
        out[(rec["cell"]["method"], rec["cell"]["seed"])] = path.stat().st_mtime
    return out


def test_plan_lists_undecided_rows_with_seeds_and_minutes(plain_run):
    _, res = plain_run
    out = _run(["plan", "--results", str(res), "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["claim"] for r in rows] == ["jitter beats plain"]  # "good beats plain" is decided
    row = rows[0]
    for key in ("track", "claim", "dataset", "n", "seeds_to_decide", "core_minutes"):
        assert key in row
    assert row["n"] == 3 and row["seeds_to_decide"] > 3 and row["core_minutes"] > 0
    assert 0 < row["power_now"] < 0.8 and row["sd_planned"] > row["sd"]  # planned at the sd's upper bound
    table = _run(["plan", "--results", str(res)])
    assert "jitter beats plain" in table.output and "all tracks:" in table.output


def test_plan_of_a_row_at_its_designs_last_look_says_so_instead_of_a_seed_count(plain_run):
    suite, res = plain_run
    out = _decide(suite, res, "--max-seeds", "3")  # the design's only look is the seeds the rows have
    assert out.exit_code == 0, out.output
    rows = json.loads(_run(["plan", "--results", str(res), "--json"]).output)
    jitter = next(r for r in rows if r["claim"] == "jitter beats plain")
    assert jitter["seeds_to_decide"] is None and jitter["core_minutes"] is None
    assert jitter["reason"].startswith("at its last look (3 seeds")
    assert "a new fixed-n test at 80% power:" in jitter["reason"]


def test_decide_writes_the_design_first_and_adds_seeds_only_where_undecided(plain_run):
    suite, res = plain_run
    before = _records(res)
    out = _decide(suite, res, "--budget", "5")
    assert out.exit_code == 0, out.output
    after = _records(res)
    added = sorted(set(after) - set(before))
    assert added and {m for m, _ in added} == {"plain", "jitter"}  # never "good": decided at its first look
    design_written = designs.design_path(res).stat().st_mtime
    assert all(after[k] >= design_written for k in added)
    design = designs.load(res)
    assert design.settings == designs.DesignSettings(12, 3) and len(design.rows) == 2
    claims = {r["claim"]: r for r in _claims_csv(res, suite)}
    jitter = claims["jitter beats plain"]
    assert jitter["verdict"] == "reproduced" and jitter["look"] == "3" and jitter["n"] == "9"  # counts, not 9.0
    assert claims["good beats plain"]["decided_by"] == "claimed side" and int(claims["good beats plain"]["look"]) == 1
    again = _decide(suite, res)
    assert again.exit_code == 0 and _records(res) == after  # decided: a rerun adds nothing


def _claims_csv(res, suite):
    import csv

    out = res.parent / "lb"
    assert _run(["publish", "--results", str(res), "--out", str(out)]).exit_code == 0
    return list(csv.DictReader((out / "smoke" / "fake.claims.csv").open()))


def test_a_changed_design_is_refused_in_one_line_before_any_cell(plain_run):
    suite, res = plain_run
    assert _decide(suite, res, "--budget", "0").exit_code == 0
    before = _records(res)
    out = _decide(suite, res, "--max-seeds", "20", "--seeds", "4")
    assert out.exit_code == 2 and "refusing changed settings: max_seeds=20 (design: 12)" in out.output
    assert len(out.output.strip().splitlines()) == 1 and _records(res) == before


def test_decide_options_need_decide_and_bad_designs_are_one_line(plain_run, tmp_path):
    suite, res = plain_run
    out = _run(["run", "--suite", str(suite), "--results", str(res), "--budget", "3"])
    assert out.exit_code == 2 and "go with --decide" in out.output
    designs.design_path(res).parent.mkdir(parents=True, exist_ok=True)
    designs.design_path(res).write_text("{not json")
    out = _run(["run", "--suite", str(suite), "--results", str(res), "--decide"])
    assert out.exit_code == 2 and "is unreadable" in out.output and len(out.output.strip().splitlines()) == 1


class _KilledRunner:
    """Runs nothing and dies, as a killed process would, in the middle of its first round."""

    def run(self, targets, rows):
        raise KeyboardInterrupt


def test_a_killed_decide_resumes_at_the_same_look(plain_run):
    suite, res = plain_run
    assert _decide(suite, res, "--budget", "0").exit_code == 0  # the design, no round: budget 0
    design = designs.load(res)
    source = ResultsSource(res, ["fake"], "smoke")
    with pytest.raises(KeyboardInterrupt):
        Engine(design, FileLedger(res), source, _KilledRunner(), budget=300).run()
    planned = FileLedger(res).open_round()
    assert planned is not None and planned.targets and not planned.done
    runner = ExecutorRunner(res, ExecOptions(executor="inline", quiet=True))
    summary = Engine(design, FileLedger(res), source, runner, budget=300).run()
    ledger = FileLedger(res)
    assert ledger.rounds[0].targets == planned.targets and ledger.rounds[0].done  # the same round, finished
    row = next(iter(planned.targets))
    assert [lk.n for lk in ledger.looks[row]][:2] == [3, planned.targets[row]]
    assert summary.verdicts[row].verdict == "reproduced"


def test_thresholds_changed_after_the_design_are_refused(plain_run):
    _, res = plain_run
    rows = ResultsSource(res, ["fake"], "smoke").rows()
    settings = designs.DesignSettings()
    design = designs.Design(settings, scale="smoke")
    for r in rows:
        design.rows[r.row_id] = designs.register(settings, r.row_id, "fake", "c", "d", r.sample)
    r = rows[0]
    r.sample.smallest_effect = 0.05
    with pytest.raises(HarnessError, match="changed its thresholds"):
        designs.check_thresholds(design, r.row_id, r.sample)


def test_a_later_call_registers_the_rows_of_new_tracks_and_changes_no_registered_row(plain_run):
    suite, res = plain_run
    other = designs.DesignRow("0" * 16, "other-track", "a claim of another track", "d", "superiority", 3, [3, 6])
    design = designs.Design(designs.DesignSettings(), {other.row_id: other}, scale="smoke")
    designs.write_new(res, design)
    before = designs.design_path(res).read_text()
    out = _decide(suite, res, "--budget", "0")
    assert out.exit_code == 0, out.output
    after = designs.load(res)
    assert after.rows[other.row_id] == other and {r.track for r in after.rows.values()} == {"other-track", "fake"}
    assert after.settings == designs.Design.from_json(before).settings and after.created == design.created


def test_a_design_written_under_the_old_boundaries_is_never_continued_but_is_re_read(plain_run):
    """A design.json from before the boundary method was recorded (z boundaries mapped through t):
    `run --decide` refuses it in one line, exit 2, before any cell, naming how to start a new design;
    publish still reads its looks, re-read under the exact t boundaries and labelled so."""
    suite, res = plain_run
    assert _decide(suite, res, "--budget", "0").exit_code == 0
    path = designs.design_path(res)
    data = json.loads(path.read_text())
    assert data.pop("method") == "t-sim-1"
    path.write_text(json.dumps(data))
    before = _records(res)
    out = _decide(suite, res, "--budget", "5")
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1, out.output
    assert "'z-mapped'" in out.output and "start a new design with another --results directory" in out.output
    assert _records(res) == before
    rows = {r["claim"]: r for r in _claims_csv(res, suite)}
    assert "re-read" in rows["good beats plain"]["ours"] and rows["good beats plain"]["verdict"] == "reproduced"
