"""Cell groups against single cells on this machine's CPU: the non-LM quick tracks, side by side in one run.

Issue 28 asks for >= 1.3x over the non-LM quick tracks and >= 2x on the MNIST-1D blocks. This runs
every cell of the chosen tracks twice in this process on one thread: alone (``Track.run``) and in
groups (``Track.run_group``, the method the engine calls), unit by unit, alternating which variant
goes first, so a load change on a shared machine hits both. Units are formed as the planner's
``--group`` would: cells with one ``group_key`` (and, for ``auto``, only where ``group_pays_on_cpu``;
cells that share a training, such as ``ce`` and ``posthoc-la`` of one seed, always together), at
most ``max_group_size`` per unit. Tracks that never group (embdim, dialogue, tokenization) run once
and count the same seconds in both columns. Times are CPU seconds of this process
(``time.process_time``: other processes' load inflates neither side); with ``--repeat R`` each
unit runs R times per variant and the median counts. Each grouped member's primary metric is
compared with its single run: gaps beyond the track's device tolerance are listed (chaotic cells).

    PYTHONPATH=. python benchmarks/bench_groups.py [--tracks igr,weightreg,...] [--group auto|on]
        [--seeds N] [--blocks SUBSTRING] [--repeat R] [--max-units N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any

from harness.engine.context import RunContext
from harness.engine.estimate import estimate
from harness.engine.groups import form_groups
from harness.engine.runner import set_threads
from harness.registry import REGISTRY
from harness.suite import expand, load_suite
from harness.track import within_device_tolerance

TRACKS = ("igr", "weightreg", "imbalance", "vae", "embdim", "dialogue", "tokenization")


def block_of(cell: Any) -> str:
    settings = " ".join(f"{k}={v}" for k, v in sorted(cell.settings.items()) if k in KEY_SETTINGS)
    return f"{cell.track} {cell.dataset_label} {settings}".strip()


KEY_SETTINGS = ("optimizer", "protocol", "model", "latent", "epochs")


def units_of(cells: list[Any], mode: str) -> list[list[Any]]:
    """The groups the engine's planner forms for ``--group mode`` on a CPU (``form_groups`` itself,
    so the benchmark times exactly what a run would train together)."""
    return [list(group.cells) for group in form_groups(cells, estimate(cells), mode, on_gpu=False)]


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def run_alone(track: Any, cells: list[Any]) -> tuple[float, list[Any]]:
    def go() -> list[Any]:
        out = []
        for cell in cells:
            ctx = RunContext(cell.seed)
            ctx.seed_everything("init")
            try:
                out.append(track.run(cell, ctx))
            except Exception as exc:  # a diverged cell is a result too
                out.append(exc)
        return out

    return timed(go)


def run_grouped(track: Any, cells: list[Any]) -> tuple[float, list[Any]]:
    return timed(lambda: track.run_group(cells, [RunContext(c.seed) for c in cells]))


RUNNERS = {"alone": run_alone, "grouped": run_grouped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", default=",".join(TRACKS))
    ap.add_argument("--group", choices=("auto", "on"), default="auto")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per block (default: the suite's)")
    ap.add_argument("--blocks", default="", help="only blocks whose label contains this")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--max-units", type=int, default=0, help="time only the first N units of each block (a sample)")
    args = ap.parse_args()
    set_threads(1)
    tracks = args.tracks.split(",")
    cells = [c for c in expand(load_suite("quick"), tracks, None, None, args.seeds) if args.blocks in block_of(c)]
    print(
        f"# python benchmarks/bench_groups.py --tracks {args.tracks} --group {args.group}"
        f"{f' --seeds {args.seeds}' if args.seeds else ''}{f' --blocks {args.blocks}' if args.blocks else ''}"
        f" --repeat {args.repeat}{f' --max-units {args.max_units}' if args.max_units else ''}: {len(cells)} cells,"
        " one thread, CPU seconds of this process"
    )
    blocks: dict[str, list[Any]] = defaultdict(list)
    for cell in cells:
        blocks[block_of(cell)].append(cell)
    rows, chaotic = [], []
    flip = False
    for label, members in blocks.items():
        track = REGISTRY.get("track", members[0].track).load()()
        run_alone(track, members[:1])  # warm-up, untimed: data loaded, cached artifacts built
        units = units_of(members, args.group)
        if args.max_units:
            units = units[: args.max_units]
            members = [c for unit in units for c in unit]
        alone_s = grouped_s = 0.0
        ratios = []
        for unit in units:
            if len(unit) == 1:
                t, _ = run_alone(track, unit)  # a group of one is the cell alone: measured once, counted in both
                alone_s += t
                grouped_s += t
                continue
            times: dict[str, list[float]] = {"alone": [], "grouped": []}
            outs: dict[str, list[Any]] = {}
            for _ in range(args.repeat):
                order = ("grouped", "alone") if flip else ("alone", "grouped")
                flip = not flip
                for variant in order:
                    t, outs[variant] = RUNNERS[variant](track, unit)
                    times[variant].append(t)
            a, g = statistics.median(times["alone"]), statistics.median(times["grouped"])
            alone_s += a
            grouped_s += g
            ratios.append(a / g if g else float("nan"))
            for cell, one, many in zip(unit, outs["alone"], outs["grouped"]):
                if isinstance(one, dict) and isinstance(many, dict):
                    p = track.primary
                    if not within_device_tolerance(track, one[p], many[p]):
                        chaotic.append((cell.describe(), p, one[p], many[p]))
                elif isinstance(one, dict) != isinstance(many, dict):
                    chaotic.append((cell.describe(), "status", repr(one)[:60], repr(many)[:60]))
        rows.append((members[0].track, label, len(members), len(units), alone_s, grouped_s, ratios))
        med = f"{statistics.median(ratios):.2f}" if ratios else "-"
        print(
            f"{label[:70]:70} {len(members):4d} cells {len(units):4d} units  alone {alone_s:8.1f}  "
            f"grouped {grouped_s:8.1f}  ratio {alone_s / grouped_s:5.2f}  (median unit {med})",
            flush=True,
        )
    print()
    per_track: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for name, _, _, _, a, g, _ in rows:
        per_track[name][0] += a
        per_track[name][1] += g
    for name, (a, g) in per_track.items():
        print(f"track {name:14} alone {a:8.1f} s  grouped {g:8.1f} s  ratio {a / g:5.2f}")
    total_a, total_g = sum(v[0] for v in per_track.values()), sum(v[1] for v in per_track.values())
    print(f"in all               alone {total_a:8.1f} s  grouped {total_g:8.1f} s  ratio {total_a / total_g:5.2f}")
    one_d = [(a, g) for _, label, _, _, a, g, _ in rows if " mnist1d" in label]
    if one_d:
        a, g = sum(x for x, _ in one_d), sum(y for _, y in one_d)
        print(f"MNIST-1D blocks      alone {a:8.1f} s  grouped {g:8.1f} s  ratio {a / g:5.2f}")
    print(f"\nmembers beyond their track's device tolerance of the cell alone: {len(chaotic)}")
    for describe, metric, one, many in chaotic:
        print(f"  {describe}: {metric} alone {one} grouped {many}")


if __name__ == "__main__":
    main()
