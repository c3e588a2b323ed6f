"""Per-side false-decision rates of the ``--decide`` rule, old boundaries beside the exact t-scale ones.

The same draws (a million designs per schedule, the seeds of tests/test_sequential_error_control.py)
read twice: with the z boundaries mapped through each look's t (what the harness used before) and
with the exact t-scale tables. Prints one line per schedule and case with both rates and the bound
the tests assert (0.025 + 3 standard errors).

    .venv/bin/python benchmarks/error_rates.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import sequential_sim  # noqa: E402
from test_sequential_error_control import CASES, DESIGNS, N_MAX, SCHEDULES  # noqa: E402


def main() -> None:
    began = time.perf_counter()
    print(f"{DESIGNS} designs per schedule; bound = 0.025 + 3 se")
    print(f"{'looks':<10} {'case':<36} {'old (z mapped)':>15} {'exact t':>10} {'bound':>8}")
    for s, looks in enumerate(SCHEDULES):
        noise = sequential_sim.moments(np.random.default_rng(20260 + s).standard_normal((DESIGNS, N_MAX)), looks)
        for name, (kind, mean, thresholds, wrong) in CASES.items():
            got = {}
            for old in (True, False):
                sequential_sim.OLD = old
                stats = sequential_sim.t_stats(noise, looks, kind, shift=mean, **thresholds)
                codes, _ = sequential_sim.verdicts([stats], looks, N_MAX, kind)
                got[old] = sequential_sim.rate(codes, wrong)
            bound = 0.025 + 3 * got[False][1]
            print(
                f"{'/'.join(map(str, looks)):<10} {name:<36} {got[True][0]:>15.5f} {got[False][0]:>10.5f} {bound:>8.5f}"
            )
    print(f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
