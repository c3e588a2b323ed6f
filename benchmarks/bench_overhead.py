"""Harness overhead and scaling on the igr track (run by hand: `make bench`; not part of the tests).

1. Train-only time of one igr cell through the harness versus the hand-written loop in
   handwritten_igr.py (same data, model, init, steps): ratio should be within 1.05.
2. Whole-process time of `harness run` for that one cell (inline executor, fresh results) versus
   `python handwritten_igr.py`: ratio should be within 1.2 for a ~30 s cell.
3. A fully cached rerun of the quick igr suite (needs a finished `harness run --suite quick --track igr`).
4. With --scaling: throughput of --jobs 2 versus --jobs 1 on the quick igr suite's MNIST GD block (1 seed).

Numbers vary with machine load: run it on an idle machine and quote medians over --repeats.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = [sys.executable, "-m", "harness.cli"]
SUITE = """
[suite]
name = "bench"
scale = "quick"
seeds = 1
[[run]]
track = "igr"
datasets = ["mnist[n_train=1000,n_valid=1000,n_test=5000]"]
methods = ["small-lr"]
[run.settings]
time = 60.0
hessian_iters = 0  # the hand-written loop measures no lambda_max (its cost: bench_igr_hessian.py)
"""


def timed(cmd: list[str], **kw) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)
    return time.perf_counter() - t0, out.stdout + out.stderr


def one_round(tmp: Path, i: int) -> dict[str, float]:
    suite = tmp / "bench.toml"
    suite.write_text(SUITE)
    res = tmp / f"res{i}"
    wall_h, _ = timed(
        HARNESS
        + [
            "run",
            "--suite",
            str(suite),
            "--results",
            str(res),
            "--executor",
            "inline",
            "--threads",
            "1",
            "--device",
            "cpu",
            "-q",
        ]
    )
    rec = json.loads(next(res.glob("igr/*.json")).read_text())
    wall_m, out = timed(
        [sys.executable, str(HERE / "handwritten_igr.py"), "--threads", str(rec["provenance"]["threads"])]
    )
    train_m = float(re.search(r"train_seconds=([0-9.]+)", out).group(1))
    return {
        "train_harness": rec["train_seconds"],
        "train_manual": train_m,
        "wall_harness": wall_h,
        "wall_manual": wall_m,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--results", default="results", help="results dir with a finished quick igr run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rounds = [one_round(Path(d), i) for i in range(args.repeats)]
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    print(
        f"train-only: harness {med['train_harness']:.2f}s vs hand-written {med['train_manual']:.2f}s "
        f"-> ratio {med['train_harness'] / med['train_manual']:.3f} (median of {args.repeats})"
    )
    print(
        f"whole process: harness {med['wall_harness']:.2f}s vs hand-written {med['wall_manual']:.2f}s "
        f"-> ratio {med['wall_harness'] / med['wall_manual']:.3f}"
    )
    if Path(args.results).exists():
        walls = [
            timed(HARNESS + ["run", "--suite", "quick", "--track", "igr", "--results", args.results, "-q"])[0]
            for _ in range(args.repeats)
        ]
        print(f"cached rerun of quick igr: median {statistics.median(walls):.2f}s")
    if args.scaling:
        with tempfile.TemporaryDirectory() as d:
            base = HARNESS + [
                "run",
                "--suite",
                "quick",
                "--track",
                "igr",
                "--dataset",
                "mnist[n_train=1000,n_valid=1000,n_test=5000]",
                "--seeds",
                "1",
                "-q",
            ]
            t1, _ = timed(base + ["--jobs", "1", "--results", f"{d}/j1"])
            t2, _ = timed(base + ["--jobs", "2", "--results", f"{d}/j2"])
        print(f"jobs scaling: --jobs 1 {t1:.1f}s, --jobs 2 {t2:.1f}s -> throughput x{t1 / t2:.2f}")


if __name__ == "__main__":
    main()
