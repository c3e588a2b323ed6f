"""Overhead of the Ray executor against the local one (run by hand; not part of the tests).

Two measurements, each the median over --repeats runs on fresh results directories:

1. cold: the whole `harness run --executor local|ray -j JOBS` process on the fake suite
   (interpreter start, Ray start and shutdown or worker start-up, every cell, result files);
2. warm: inside one process with Ray already running, `RayExecutor.run` versus
   `LocalExecutor.run` on the same cells: the per-suite cost once start-up is paid
   (Ray workers are reused between runs; local workers are started per run, as `harness run` does).

The fake suite (tests/fake_plugin.py) sleeps ``--sleep`` seconds per cell, so its useful work is
known: cells * sleep / jobs seconds of wall time. `--suite smoke --track igr` style runs are
possible with --suite/--track for a real workload. Numbers depend on machine load: quote medians.

    python benchmarks/bench_ray.py --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
SUITE = """
[suite]
name = "bench-ray"
scale = "smoke"
seeds = {seeds}

[[run]]
track = "fake"
datasets = ["const"]
methods = ["plain", "good"]
[run.settings]
sleep = {sleep}
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, KEXUE_BENCH_PLUGINS="fake_plugin", OMP_NUM_THREADS="1", RAY_AUTH_MODE="disabled")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


def cold(suite: str, track: list[str], executor: str, jobs: int, tmp: Path, i: int) -> float:
    res = tmp / f"cold-{executor}-{i}"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--suite", suite, "--results", str(res)]
    cmd += [f"--track={t}" for t in track] + ["--executor", executor, "-j", str(jobs), "--device", "cpu", "-q"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{executor} run failed:\n{out.stderr[-2000:]}")
    return wall


def warm(suite: str, track: list[str], jobs: int, repeats: int, tmp: Path) -> dict[str, list[float]]:
    os.environ.update(_env())
    sys.path[:0] = [str(TESTS), str(ROOT)]
    import ray

    from harness.engine.executors import LocalExecutor
    from harness.engine.ray_executor import RayExecutor
    from harness.engine.store import Store
    from harness.suite import expand, load_suite

    cells = expand(load_suite(suite), track or None)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    print(f"ray.init: {time.perf_counter() - t0:.1f}s", flush=True)
    out: dict[str, list[float]] = {"local": [], "ray": []}
    try:
        RayExecutor(Store(tmp / "warmup"), jobs=jobs, threads=threads).run(cells, _noop, _noop2)  # start workers
        for i in range(repeats):
            for name, cls in (("local", LocalExecutor), ("ray", RayExecutor)):
                t0 = time.perf_counter()
                cls(Store(tmp / f"warm-{name}-{i}"), jobs=jobs, threads=threads).run(cells, _noop, _noop2)
                out[name].append(time.perf_counter() - t0)
    finally:
        ray.shutdown()
    return out


def _noop(cell: object) -> None:
    pass


def _noop2(cell: object, rec: object) -> None:
    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=8, help="fake suite: seeds per method (2 methods)")
    ap.add_argument("--sleep", type=float, default=0.2, help="fake suite: seconds of 'work' per cell")
    ap.add_argument("--suite", default=None, help="a built-in suite or TOML instead of the fake suite")
    ap.add_argument("--track", action="append", default=[], help="with --suite: only these tracks")
    ap.add_argument("--skip-cold", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        suite = args.suite
        if suite is None:
            suite = str(tmp / "bench_ray.toml")
            Path(suite).write_text(SUITE.format(seeds=args.seeds, sleep=args.sleep))
            print(f"fake suite: {2 * args.seeds} cells x {args.sleep}s sleep, {args.jobs} jobs", flush=True)
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        if not args.skip_cold:
            times: dict[str, list[float]] = {"local": [], "ray": []}
            for i in range(args.repeats):
                for ex in ("local", "ray"):
                    times[ex].append(cold(suite, args.track, ex, args.jobs, tmp, i))
                    print(f"  cold {ex} #{i}: {times[ex][-1]:.1f}s", flush=True)
            _report("cold `harness run`", times)
        times = warm(suite, args.track, args.jobs, args.repeats, tmp)
        for i in range(args.repeats):
            print(f"  warm #{i}: local {times['local'][i]:.2f}s, ray {times['ray'][i]:.2f}s", flush=True)
        _report("warm executor.run", times)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")


def _report(what: str, times: dict[str, list[float]]) -> None:
    loc, ray = statistics.median(times["local"]), statistics.median(times["ray"])
    print(f"{what}: median local {loc:.2f}s, ray {ray:.2f}s, ray - local {ray - loc:+.2f}s ({ray / loc:.2f}x)")


if __name__ == "__main__":
    main()
