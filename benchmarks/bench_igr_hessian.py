"""lambda_max's share of an igr cell's time (run by hand; not part of the tests).

Issue 12 asks that the power iteration for lambda_max (at the end, and at initialisation in the
baseline's cell) stays within 10% of a cell's time. For every block of the quick igr suite this
runs its cheapest cell (the largest lr: the shortest training, so the largest share) and its
costliest one (``--all``: every arm, seed 0, with block totals), in this process on one thread,
and times the lambda_max calls against the whole cell. CPU time of this
process (time.process_time) is what is compared, so a loaded machine inflates both sides alike.

    PYTHONPATH=. python benchmarks/bench_igr_hessian.py [--suite quick] [--all]
"""

from __future__ import annotations

import argparse
import time

from harness.engine.runner import run_cell
from harness.registry import REGISTRY
from harness.suite import expand, load_suite


def timed_cell(cell) -> tuple[float, float, int]:
    """(cell CPU seconds, lambda_max CPU seconds, lambda_max calls) for one in-process run."""
    from harness.tracks.igr import evaluation

    original = evaluation.lambda_max
    spent = [0.0, 0]

    def timed(*args, **kwargs):
        t0 = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.process_time() - t0
            spent[1] += 1

    evaluation.lambda_max = timed
    try:
        t0 = time.process_time()
        rec = run_cell(cell, threads=1)
        total = time.process_time() - t0
    finally:
        evaluation.lambda_max = original
    if rec["status"] != "ok":
        raise SystemExit(f"{cell.describe()}: {rec['status']}: {rec['error']}")
    return total, spent[0], int(spent[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--all", action="store_true", help="time every arm of every block (seed 0), not two per block")
    args = ap.parse_args()
    track = REGISTRY.get("track", "igr").load()()
    cells = expand(load_suite(args.suite), tracks=["igr"], seeds=1)
    blocks: dict[str, list] = {}
    for c in cells:
        blocks.setdefault(c.dataset_selector + " " + str(sorted(c.settings.items())), []).append(c)
    worst = 0.0
    totals: dict[str, list[float]] = {}
    print(f"{'block':44} {'method':24} {'cell s':>7} {'λ s':>6} {'share':>6}")
    for cs in blocks.values():
        cs = sorted(cs, key=track.cost)
        picked = cs if args.all else [cs[0], cs[-1]]
        for cell in picked:
            track.load_data(cell)  # cached per process: the timed run excludes loading, so the share is not diluted
            total, hess, calls = timed_cell(cell)
            share = hess / total if total else 0.0
            worst = max(worst, share)
            s = cell.settings
            block = f"{cell.dataset_selector[:22]} {s['optimizer']}/{s['protocol']}"
            print(f"{block:44} {cell.method_selector:24} {total:7.2f} {hess:6.2f} {share:6.1%}  ({calls} calls)")
            totals.setdefault(block, [0.0, 0.0])
            totals[block][0] += total
            totals[block][1] += hess
    if args.all:
        for block, (total, hess) in totals.items():
            print(f"block {block:38} cells {total:7.1f} s, lambda_max {hess:5.1f} s ({hess / total:.1%})")
    print(f"largest lambda_max share of one cell: {worst:.1%} (target <= 10%)")


if __name__ == "__main__":
    main()
