"""Cold paths: commands that only read the registry or the results must not pay for torch.

Side by side in one run, interleaved (so machine load hits every row alike), medians over
``--runs`` (>= 5) fresh processes of:

1. ``python -c "import torch"``: the cost every command used to pay;
2. ``harness list``;
3. a fully cached rerun of the whole suite (``harness run --suite quick -q`` on ``--results``
   holding every cell of it; skipped with a message when some cell is still to run).

Goals (issue 14): ``harness list`` <= 0.5 s and <= half of the torch import; the cached rerun of
the whole quick suite <= 1.0 s. One untimed warm-up of each row comes first: it builds the
registry manifest if the code changed, and the cached rerun computes and stores the exact claims
in ``<results>/.exact/`` if they are missing (what ``harness run`` does anyway).

    python benchmarks/bench_cold_paths.py --results results [--runs 7] [--suite quick]

Run by hand (``make bench``), not by the tests; quote the numbers with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HARNESS = [sys.executable, "-m", "harness.cli"]
LIST_GOAL_S, RERUN_GOAL_S = 0.5, 1.0


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if out.returncode not in (0, 1):  # 1: a cached run whose suite has failed cells
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return took


def cells_to_run(suite: str, results: str) -> int:
    out = subprocess.run(
        HARNESS + ["run", "--suite", suite, "--results", results, "--dry-run"], capture_output=True, text=True
    )
    m = re.search(r"dry run: (\d+) cells to run", out.stdout)
    if out.returncode != 0 or not m:
        raise SystemExit(f"harness run --dry-run failed: {out.stderr.strip()[-500:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results", help="results directory holding every cell of --suite")
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    runs = max(5, args.runs)

    rows: dict[str, list[str]] = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "harness list": HARNESS + ["list"],
    }
    missing = cells_to_run(args.suite, args.results) if os.path.isdir(args.results) else -1
    rerun = f"harness run --suite {args.suite} (fully cached)"
    if missing == 0:
        rows[rerun] = HARNESS + ["run", "--suite", args.suite, "--results", args.results, "-q"]
    else:
        why = "does not exist" if missing < 0 else f"still has {missing} cells to run"
        print(f"skipping the cached-rerun row: {args.results}/ {why} (run the whole suite first)")

    for cmd in rows.values():  # warm-up: manifest, exact checks, page cache
        timed(cmd)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(runs):
        for name, cmd in rows.items():
            times[name].append(timed(cmd))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{runs} runs each, interleaved; {os.cpu_count()} cores, load average {load:.2f} at the end\n")
    print("| command | median s | min s | max s |\n|---|---|---|---|")
    for name, ts in times.items():
        print(f"| `{name}` | {statistics.median(ts):.3f} | {min(ts):.3f} | {max(ts):.3f} |")
    torch_s = statistics.median(times['python -c "import torch"'])
    list_s = statistics.median(times["harness list"])
    ok_list = list_s <= LIST_GOAL_S and list_s <= torch_s / 2
    print(
        f"\nharness list: {list_s:.3f} s = {list_s / torch_s:.2f} x the torch import "
        f"(goal <= {LIST_GOAL_S} s and <= 0.5 x): {'met' if ok_list else 'NOT met'}"
    )
    if rerun in times:
        rerun_s = statistics.median(times[rerun])
        print(
            f"cached rerun of {args.suite}: {rerun_s:.3f} s (goal <= {RERUN_GOAL_S} s): "
            f"{'met' if rerun_s <= RERUN_GOAL_S else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
