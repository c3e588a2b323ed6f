"""Cell groups in the engine, in this process: how the planner forms them (key, size, memory, shared
training, --group), what a group's members record (statuses alone, provenance, shares of the time),
an out-of-memory group split in halves, estimates by group, and bad input before any cell runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.engine.batch import ExecOptions, run_batch
from harness.engine.estimate import estimate
from harness.engine.executors import InlineExecutor
from harness.engine.groups import Group, Limits, form_groups, split
from harness.engine.runner import run_group_cells
from harness.engine.store import Store
from harness.errors import HarnessError
from harness.suite import expand, load_suite

MIB = 1024**2


def group_suite(methods: str, seeds: int = 2, sleep: float = 0.0, extra: str = "", dataset: str = "const") -> str:
    """The fake suite with these methods, seeds and dataset, its cells grouping (``groups = true``)."""
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", f"seeds = {seeds}")
    body = body.replace('["const"]', f'["{dataset}"]')
    return body + f"[run.settings]\ngroups = true\nsleep = {sleep}\n{extra}\n"


def _cells(tmp_path, methods, seeds=2, sleep=0.0, extra="", dataset="const"):
    body = group_suite(methods, seeds, sleep, extra, dataset)
    return expand(load_suite(str(write_suite(tmp_path / "g.toml", body))))


def _sizes(groups):
    return sorted((g.size for g in groups), reverse=True)


# --- forming groups ------------------------------------------------------------------------------
def test_groups_form_by_key_capped_by_size_and_balanced(tmp_path):
    cells = _cells(tmp_path, '["good"]', seeds=5)  # good and the baseline plain: 10 cells, one key
    est = estimate(cells)
    groups = form_groups(cells, est, "on", on_gpu=False)
    assert _sizes(groups) == [4, 3, 3]  # the fake track's max_group_size is 4; balanced, not 4 + 4 + 2
    assert sorted(k for g in groups for k in g.keys) == sorted(c.key for c in cells)
    assert len({g.id for g in groups}) == 3
    assert form_groups(list(reversed(cells)), est, "on", on_gpu=False)[0].id in {g.id for g in groups}


def test_groups_capped_by_declared_host_and_gpu_memory(tmp_path):
    cells = _cells(tmp_path, '["good"]', seeds=4)  # 8 cells of 512 MiB and (on a GPU) 1 GiB each
    est = estimate(cells)
    by_host = form_groups(cells, est, "on", on_gpu=False, limits=Limits(host=3 * 512 * MIB))
    assert max(g.size for g in by_host) == 3 and all(g.memory <= 3 * 512 * MIB for g in by_host)
    by_gpu = form_groups(cells, est, "on", on_gpu=True, limits=Limits(gpu=5 * 512 * MIB))
    assert _sizes(by_gpu) == [2, 2, 2, 2]  # 2 GiB declared fit in 2.5 GiB (a 3 GiB GPU beside a CUDA context)
    assert all(g.gpu_memory == 2 * 1024 * MIB for g in by_gpu)


def test_group_modes_off_on_auto(tmp_path):
    cells = _cells(tmp_path, '["good"]', seeds=2)
    est = estimate(cells)
    assert _sizes(form_groups(cells, est, "off", on_gpu=True)) == [1, 1, 1, 1]
    assert _sizes(form_groups(cells, est, "on", on_gpu=False)) == [4]
    assert _sizes(form_groups(cells, est, "auto", on_gpu=True)) == [4]  # a GPU: always
    assert _sizes(form_groups(cells, est, "auto", on_gpu=False)) == [1, 1, 1, 1]  # the track: not on a CPU
    pays = _cells(tmp_path, '["good"]', seeds=2, extra="pays_on_cpu = true")
    assert _sizes(form_groups(pays, estimate(pays), "auto", on_gpu=False)) == [4]
    with pytest.raises(HarnessError, match="--group must be one of auto, on, off"):
        form_groups(cells, est, "sometimes", on_gpu=False)


def test_shared_training_cells_always_go_together(tmp_path):
    cells = _cells(tmp_path, '["shares[tau=0.1]", "shares[tau=0.2]"]', seeds=3)  # plain + 2 shares per seed
    est = estimate(cells)
    for mode in ("off", "on", "auto"):
        groups = form_groups(cells, est, mode, on_gpu=False)
        assert _sizes(groups) == [3, 3, 3], mode  # one seed's set per group (two sets exceed the cap of 4)
        assert all(len({c.seed for c in g.cells}) == 1 for g in groups)
    five = _cells(tmp_path, '["shares[tau=0.1]", "shares[tau=0.2]", "shares[tau=0.3]", "shares[tau=0.4]"]', 1)
    assert _sizes(form_groups(five, estimate(five), "off", on_gpu=False)) == [5]  # larger than the cap: whole


def test_split_keeps_shared_sets_whole_then_halves_cells(tmp_path):
    cells = _cells(tmp_path, '["shares[tau=0.1]"]', seeds=2)  # two sets of two
    est = estimate(cells)
    group = Group(tuple(cells), sum(est.memory.values()))
    halves = split(group)
    assert [h.size for h in halves] == [2, 2] and all(len({c.seed for c in h.cells}) == 1 for h in halves)
    assert all(h.split_from == group.id and h.memory == 2 * 512 * MIB for h in halves)
    assert [h.size for h in split(halves[0])] == [1, 1]  # a lone set splits into its cells


def _wall(about):
    return {"wall_seconds": about["wall_seconds"]}


# --- running groups --------------------------------------------------------------------------------
def test_group_members_record_alone_statuses_and_provenance(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv("KEXUE_BENCH_FAKE_MARKERS", str(marks))
    cells = [c for c in _cells(tmp_path, '["good", "nan", "raise"]', seeds=1, sleep=0.2)]
    group = Group(tuple(cells))
    recs = run_group_cells(group, threads=1)
    by_method = {r["cell"]["method"]: r for r in recs}
    assert {m: r["status"] for m, r in by_method.items()} == {
        "plain": "ok",
        "good": "ok",
        "nan": "diverged",
        "raise": "error",
    }
    assert by_method["good"]["metrics"]["score"] == pytest.approx(1.5)  # what the cell gives alone
    assert by_method["nan"]["metrics"] == {"score": pytest.approx(1.0)}  # its last finite metrics
    assert "RuntimeError: boom" in by_method["raise"]["error"] and "traceback" in by_method["raise"]
    seconds = recs[0]["provenance"]["group"]["seconds"]
    assert seconds >= 0.2  # one batched training for the group
    for i, rec in enumerate(recs):
        about = rec["provenance"]["group"]
        assert about == {
            "id": group.id,
            "size": 4,
            "index": i,
            "seconds": seconds,
            "wall_seconds": about["wall_seconds"],
        }
        assert rec["key"] == cells[i].key
        assert rec["train_seconds"] == pytest.approx(seconds / 4)  # its share of the group's
        assert rec["wall_seconds"] == pytest.approx(about["wall_seconds"] / 4)
    assert len(list(marks.glob("group.*"))) == 1


def test_group_out_of_memory_is_split_in_halves_and_retried(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv("KEXUE_BENCH_FAKE_MARKERS", str(marks))
    cells = _cells(tmp_path, '["big-group"]', seeds=4)  # 8 cells, groups of 4 raise MemoryError
    est = estimate(cells)
    groups = form_groups(cells, est, "on", on_gpu=False)
    store = Store(tmp_path / "res")
    started, done = [], []
    InlineExecutor(store, threads=1).run(groups, started.append, lambda c, r: done.append((c.key, r["status"])))
    assert sorted(k for k, _ in done) == sorted(c.key for c in cells)  # every cell once
    assert sorted(c.key for c in started) == sorted(c.key for c in cells)
    assert {s for _, s in done} == {"ok"}
    sizes = [store.read("fake", c.key)["provenance"]["group"] for c in cells]
    assert {s["size"] for s in sizes} == {2} and {s["split_from"] for s in sizes} == {g.id for g in groups}
    assert len(list(marks.glob("group.*"))) == 2 + 4  # two groups of 4 ran out of memory, four halves ran
    assert len(list(marks.glob("train.*"))) == 8  # every cell trained once


def test_shared_training_trains_once_per_seed_and_records_say_whose(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv("KEXUE_BENCH_FAKE_MARKERS", str(marks))
    suite = write_suite(tmp_path / "s.toml", group_suite('["shares[tau=0.1]", "shares[tau=0.2]"]', seeds=2))
    res = tmp_path / "res"
    out = CliRunner().invoke(
        main, ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "--group", "off", "-q"]
    )
    assert out.exit_code == 0, out.output
    assert "6 cells to run (2 groups and 0 single cells)" in out.output
    trained = {p.name.split(".")[1] for p in marks.glob("train.*")}
    assert len(list(marks.glob("train.*"))) == 2 == len(trained)  # one training per seed
    recs = [json.loads(p.read_text()) for p in res.glob("fake/*.json")]
    assert len(recs) == 6
    for rec in recs:
        shared = rec["provenance"]["shared_training"]
        assert (
            shared["value"].startswith("plain:const:")
            and shared["trained_by"] in trained
            and len(shared["members"]) == 3
        )
        assert rec["key"] in shared["members"]
        seed, tau = rec["cell"]["seed"], rec["cell"]["method_params"].get("tau", 0.0)
        assert rec["metrics"]["score"] == pytest.approx(1.0 + 0.01 * seed + tau)  # as alone


def test_batches_of_cells_are_grouped_as_decide_rounds_run_them(tmp_path):
    cells = _cells(tmp_path, '["good"]', seeds=2)
    store = Store(tmp_path / "res")
    run_batch(cells, estimate(cells), store, ExecOptions(executor="inline", group="on", quiet=True))
    sizes = {store.read("fake", c.key)["provenance"]["group"]["size"] for c in cells}
    assert sizes == {4} and list((tmp_path / "res" / ".claims" / "fake").glob("*.json")) == []


# --- the command line ------------------------------------------------------------------------------
def test_bad_group_value_and_a_rejecting_group_key_are_one_line_before_any_cell(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    monkeypatch.setenv("KEXUE_BENCH_FAKE_MARKERS", str(marks))
    suite = write_suite(tmp_path / "s.toml", group_suite('["good", "reject-group"]'))
    res = tmp_path / "res"
    base = ["run", "--suite", str(suite), "--results", str(res), "--executor", "inline", "-q"]
    bad = CliRunner().invoke(main, [*base, "--group", "sometimes"])
    assert bad.exit_code == 2 and "'sometimes' is not one of 'auto', 'on', 'off'" in bad.output
    for extra in ([], ["--dry-run"], ["--group", "off"]):
        out = CliRunner().invoke(main, [*base, *extra])
        assert out.exit_code == 2, out.output
        errors = [line for line in out.output.splitlines() if line.startswith("error:")]
        assert errors == [
            "error: track fake: group_key rejects fake/const/reject-group/seed=0: "
            "reject-group cells cannot be grouped (test track)"
        ]
        assert "Traceback" not in out.output
    assert not res.exists() and not marks.exists()  # no cell ran


def test_dry_run_counts_groups_and_costs_them_by_the_track_factor(tmp_path):
    suite = write_suite(tmp_path / "s.toml", group_suite('["good"]', seeds=5, sleep=0.0))
    base = ["run", "--suite", str(suite), "--results", str(tmp_path / "res"), "--dry-run"]
    on = CliRunner().invoke(main, [*base, "--group", "on", "-j", "1"])
    assert on.exit_code == 0, on.output
    assert "fake: 10 cells in 3 groups" in on.output and "(3 groups and 0 single cells)" in on.output
    assert "fake: group of 4 cells declares 2.0 GiB" in on.output
    off = CliRunner().invoke(main, [*base, "--group", "off", "-j", "1"])
    assert "fake: 10 cells, " in off.output and "groups" not in off.output.split("dry run")[1]
    minutes = [float(o.output.split("core-minutes")[-2].rsplit("~", 1)[1]) for o in (on, off)]
    assert minutes[0] == pytest.approx(minutes[1] / 3.33, rel=0.2)  # the fake track: one member's cost a group
