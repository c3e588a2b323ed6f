"""Build ``harness/sequential/t_tables.json``: the t-scale boundary tables shipped with the package.

Which look sequences: every schedule the default ``--decide`` design gives a row (at most 12 seeds,
a look every 3, first look at the 2..12 seeds a row has when it is registered) and the 4/8/12
schedule of the error-control tests. Each table is computed exactly as ``t_boundaries.table``
computes a missing one (same key, same seed, same number of simulated designs), so deleting the
file changes no verdict, only the time of the first read. Prints the seconds each table took.

    .venv/bin/python benchmarks/t_tables.py            # rebuild the file
    .venv/bin/python benchmarks/t_tables.py --check    # recompute one table, compare with the file
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from harness.sequential import t_boundaries as tb
from harness.sequential.design import DesignSettings

EXTRA = [(4, 8, 12)]  # the error-control tests' second uneven schedule (looks every 4 from 4 seeds)


def sequences(max_seeds: int = 12, look_every: int = 3) -> list[tuple[int, ...]]:
    settings = DesignSettings(max_seeds, look_every)
    out = {tuple(settings.schedule(n0)) for n0 in range(2, max_seeds + 1)} | set(EXTRA)
    return sorted(out, key=lambda s: (len(s), s))


def build(n_max: int = 12) -> dict:
    tables = {}
    for looks in sequences(n_max):
        made = tb.compute(looks, n_max)
        tables[made.key] = made.to_json()
        print(f"{made.key}: {made.seconds:.1f} s ({made.designs} simulated designs)", flush=True)
    return {"method": tb.METHOD, "designs": tb.DESIGNS, "tables": tables}


def check(looks: tuple[int, ...] = (3, 6, 9, 12), n_max: int = 12) -> bool:
    """Recompute one shipped table and compare it with the file (bit for bit: same seed, same code)."""
    shipped = json.loads(tb.PACKAGED.read_text(encoding="utf-8"))["tables"][tb.table_key(looks, n_max, "obf")]
    began = time.perf_counter()
    again = tb.compute(looks, n_max).to_json()
    same = again["bounds"] == shipped["bounds"] and again["levels"] == shipped["levels"]
    print(f"{looks}: recomputed in {time.perf_counter() - began:.1f} s; identical to the shipped table: {same}")
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="recompute one table and compare with the file")
    args = parser.parse_args()
    if args.check:
        return 0 if check() else 1
    began = time.perf_counter()
    data = build()
    tb.PACKAGED.write_text(json.dumps(data, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {tb.PACKAGED} ({len(data['tables'])} tables) in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
