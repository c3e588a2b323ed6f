"""Memory as a limit: the gate waits for room, refuses what can never fit, and a worker killed by
SIGKILL (what the out-of-memory killer sends) is recorded ``oom`` and not rerun blindly."""

from __future__ import annotations

import threading
import time

from click.testing import CliRunner
from conftest import FAKE_SUITE, write_suite

from harness.cli import main
from harness.engine import memory
from harness.engine.executors import LocalExecutor
from harness.engine.memory import GIB, MemoryGate
from harness.engine.store import Store
from harness.suite import expand, load_suite


def test_gate_waits_until_a_running_cell_releases_its_memory():
    gate = MemoryGate(available=lambda: 10 * GIB, total=16 * GIB)
    first = gate.acquire(6 * GIB)
    assert isinstance(first, int)
    admitted = []
    waiter = threading.Thread(target=lambda: admitted.append(gate.acquire(6 * GIB)))
    waiter.start()
    time.sleep(1.0)
    assert admitted == []  # 6 declared and not yet used + 6 more > 10 free
    gate.release(first)
    waiter.join(timeout=5)
    assert len(admitted) == 1 and isinstance(admitted[0], int)


def test_memory_a_running_cell_already_uses_is_not_counted_twice():
    avail = [10 * GIB]
    used = [0]
    gate = MemoryGate(available=lambda: avail[0], total=16 * GIB)
    assert isinstance(gate.acquire(6 * GIB, resident=lambda: used[0]), int)
    assert gate.free() == 4 * GIB  # 6 declared, none used yet: reserved
    avail[0], used[0] = 4 * GIB, 6 * GIB  # its worker now holds the 6 GiB: MemAvailable went down by 6
    assert gate.free() == 4 * GIB  # ...and they are not subtracted a second time
    assert isinstance(gate.acquire(3 * GIB), int)


def test_gate_refuses_what_can_never_fit():
    gate = MemoryGate(available=lambda: 10 * GIB, total=16 * GIB, alone_wait=0.3)
    assert "more than this machine's 16.0 GiB" in gate.acquire(17 * GIB)
    t0 = time.monotonic()
    reason = gate.acquire(12 * GIB)  # fits the machine, but never what is free, and nothing else runs
    assert "was free for 0.3 s with no other cell running" in reason
    assert time.monotonic() - t0 >= 0.3
    assert isinstance(gate.acquire(0), int)  # a cell declaring nothing never waits


def test_gate_admits_in_arrival_order():
    gate = MemoryGate(available=lambda: 10 * GIB, total=16 * GIB)
    running = gate.acquire(8 * GIB)
    order = []

    def take(name, need):
        ticket = gate.acquire(need)
        order.append(name)
        time.sleep(0.2)
        gate.release(ticket)

    big = threading.Thread(target=take, args=("big", 9 * GIB))
    big.start()
    time.sleep(0.3)
    small = threading.Thread(target=take, args=("small", 1 * GIB))  # would fit now, but waits its turn
    small.start()
    time.sleep(1.0)
    assert order == []
    gate.release(running)
    big.join(timeout=5)
    small.join(timeout=5)
    assert order == ["big", "small"]


def _cells(tmp_path, methods, settings=""):
    body = FAKE_SUITE.replace('["plain", "good"]', methods).replace("seeds = 3", "seeds = 1") + settings
    return expand(load_suite(str(write_suite(tmp_path / "s.toml", body))))


def test_local_executor_runs_cells_that_do_not_fit_together_one_after_another(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * GIB)
    monkeypatch.setattr(memory, "total_memory", lambda: 16 * GIB)
    cells = _cells(tmp_path, '["plain", "good"]', "[run.settings]\nsleep = 1.0\nmemory_mb = 6144\n")
    spans: dict[str, list[float]] = {}
    ex = LocalExecutor(Store(tmp_path / "res"), jobs=2, memory={c.key: 6 * GIB for c in cells})
    ex.run(cells, lambda c: spans.setdefault(c.key, [time.time()]), lambda c, r: spans[c.key].append(time.time()))
    (a0, a1), (b0, b1) = sorted(spans.values())
    assert b0 >= a1 - 0.05  # the second started only after the first ended
    assert {Store(tmp_path / "res").status("fake", c.key) for c in cells} == {"ok"}


def test_too_big_cell_is_recorded_without_starting_and_sigkill_is_oom(tmp_path):
    runner = CliRunner()
    suite = write_suite(tmp_path / "s.toml", FAKE_SUITE.replace('"good"]', '"good", "big-memory", "crash"]'))
    res = tmp_path / "res"
    dry = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "--dry-run"])
    assert dry.exit_code == 0 and "fake: 12 cells" in dry.output
    assert "up to 1000000.0 GiB per cell" in dry.output
    out = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "-j", "2", "-q"])
    assert out.exit_code == 1 and "oom 6" in out.output and "ok 6" in out.output
    store = Store(res)
    recs = {r["cell"]["method"]: r for r in store.records()}
    assert (
        recs["big-memory"]["status"] == "oom" and "not started: declares 1000000.0 GiB" in recs["big-memory"]["error"]
    )
    assert recs["big-memory"]["wall_seconds"] == 0.0
    assert recs["crash"]["status"] == "oom" and "SIGKILL" in recs["crash"]["error"]
    # not retried blindly: a plain rerun keeps them; --retry-failed reruns them explicitly
    again = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "-q"])
    assert again.exit_code == 1 and "6 failed earlier" in again.output and " 0 to run" in again.output
    retry = runner.invoke(main, ["run", "--suite", str(suite), "--results", str(res), "-q", "--retry-failed"])
    assert retry.exit_code == 1 and "6 to run" in retry.output and "oom 6" in retry.output
