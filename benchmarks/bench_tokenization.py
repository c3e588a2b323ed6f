"""Wall time of the quick tokenization block, cold and warm (run by hand; not part of the tests).

Issue 5's bar on 2 CPU cores: `harness run --suite quick --track tokenization` under 30 minutes
from a cold artifact cache (char MLM pretraining and the three continued-pretraining arms
included) and under 5 minutes warm (cache built, no finished cells).

- cold: a fresh temporary cache (`KEXUE_BENCH_CACHE`) and fresh results directory.
- warm: the same cache again, fresh results directory (every cell runs, nothing is pretrained).
  `--warm-only --cache DIR` times warm runs against an existing cache (e.g. your default one).

Run it on an idle machine: parallel load slows both numbers, most of all the warm one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = [sys.executable, "-m", "harness.cli"]
COLD_BAR, WARM_BAR = 30 * 60, 5 * 60


def run_block(cache: Path, results: Path, jobs: int | None) -> float:
    """Seconds for one `harness run --suite quick --track tokenization` (raises if a cell fails)."""
    cmd = HARNESS + ["run", "--suite", "quick", "--track", "tokenization", "--results", str(results), "-q"]
    if jobs:
        cmd += ["--jobs", str(jobs)]
    env = {**os.environ, "KEXUE_BENCH_CACHE": str(cache)}
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - t0


def verdict(seconds: float, bar: float) -> str:
    return f"{seconds:.0f} s ({seconds / 60:.1f} min; bar {bar / 60:.0f} min: {'met' if seconds < bar else 'NOT met'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1, help="warm runs (median quoted)")
    ap.add_argument("--jobs", type=int, default=None, help="cells at a time (default: the harness default)")
    ap.add_argument("--warm-only", action="store_true", help="skip the cold run; needs --cache")
    ap.add_argument("--cache", type=Path, default=None, help="artifact cache to use (default: a fresh temp dir)")
    args = ap.parse_args()
    if args.warm_only and args.cache is None:
        ap.error("--warm-only needs --cache DIR (an already built artifact cache)")
    with tempfile.TemporaryDirectory(prefix="kb-bench-tok-") as tmp:
        cache = args.cache or Path(tmp) / "cache"
        if not args.warm_only:
            cold = run_block(cache, Path(tmp) / "cold", args.jobs)
            print(f"cold: {verdict(cold, COLD_BAR)}", flush=True)
        warm = [run_block(cache, Path(tmp) / f"warm{i}", args.jobs) for i in range(args.repeats)]
        print(f"warm: {verdict(statistics.median(warm), WARM_BAR)}; runs: {', '.join(f'{w:.0f}' for w in warm)} s")


if __name__ == "__main__":
    main()
