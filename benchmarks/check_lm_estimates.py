"""The causal-LM cost model on a real block: its estimate before anything runs against the CPU seconds
each part then takes, on this machine.

Run by hand (needs the real backbone; uses the cache the harness uses: point ``KEXUE_BENCH_CACHE`` at an
empty folder for a cold run, where the estimate first converts the tokenizer from the GGUF, ~25 s):

    python benchmarks/check_lm_estimates.py --suite quick --track dialogue --backbone qwen2.5-0.5b --seeds 1

Selects the suite's cells of ``--track`` whose ``backbone`` setting is ``--backbone`` (the first
``--seeds`` seeds), prints the estimate (``Track.shared_cost``, then ``Track.cost`` per cell), then
times every cell in this process (CPU seconds, one thread, ``time.process_time``), and apart the time
spent building shared states and scores (the builders ``lm_store`` calls, timed where it calls them)
and the model folder (``lm_gguf.cached_folder``):
the shared part against its estimate, each cell's own part against its estimate.
Results are not stored (``harness run`` stores them). Say what else ran on the machine.
"""

from __future__ import annotations

import argparse
import json
import time

from harness.engine.context import RunContext
from harness.engine.runner import set_threads
from harness.registry import REGISTRY, load_builtins
from harness.suite import expand, load_suite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--track", required=True)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    load_builtins()
    set_threads(1)
    suite = load_suite(args.suite)
    track = REGISTRY.get("track", args.track).load()()
    cells = [
        c
        for c in expand(suite, tracks=[args.track])
        if getattr(track.settings(c), "backbone", "") == args.backbone and c.seed < args.seeds
    ]
    shared = sum(track.shared_cost(cells).values())
    own = {c.key: track.cost(c) for c in cells}
    print(json.dumps({"cells": len(cells), "estimate_shared_s": round(shared, 1),
                      "estimate_cells_s": round(sum(own.values()), 1)}))  # fmt: skip
    from harness.models import lm_store

    building = [0.0]

    def timed(fn):
        def run(*a, **k):
            t0 = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                building[0] += time.process_time() - t0

        return run

    from harness.models import lm_gguf

    lm_store.lower_states, lm_store.score_plan = timed(lm_store.lower_states), timed(lm_store.score_plan)
    lm_gguf.cached_folder = timed(lm_gguf.cached_folder)  # the model folder's build: shared work too
    total = 0.0
    for cell in cells:
        before, t0 = building[0], time.process_time()
        track.run(cell, RunContext(cell.seed))
        spent = time.process_time() - t0
        total += spent
        print(json.dumps({"cell": f"{cell.method}{cell.method_params or ''} seed={cell.seed}",
                          "estimate_s": round(own[cell.key], 1), "measured_cpu_s": round(spent, 1),
                          "of_which_building_shared_s": round(building[0] - before, 1)}), flush=True)  # fmt: skip
    print(json.dumps({"shared_estimate_s": round(shared, 1), "shared_measured_cpu_s": round(building[0], 1),
                      "cells_estimate_s": round(sum(own.values()), 1),
                      "cells_measured_cpu_s": round(total - building[0], 1)}))  # fmt: skip
    estimate = shared + sum(own.values())
    print(json.dumps({"estimate_s": round(estimate, 1), "measured_cpu_s": round(total, 1),
                      "estimate_over_measured": round(estimate / total, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
