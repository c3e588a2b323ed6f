"""Compare a CPU run and a GPU run of the same cells (``benchmarks/gpu_check.sh``): one row per cell with
both statuses, the primary metric on each device, their difference against the track's
``device_tolerance``, train seconds on each device, the GPU memory the cell took and the size of the
cell group it trained in on the GPU (``-``: alone); then one line per track (cells ok on both, cells
within tolerance, train seconds summed and their ratio; a grouped member's train seconds are its
share of its group's, so the sums compare whole runs).

    python benchmarks/gpu_compare.py RESULTS_CPU RESULTS_GPU > compare.tsv
    python benchmarks/gpu_compare.py --names single,grouped RESULTS_SINGLE RESULTS_GROUPED  # two GPU runs

Exit code 1 when a cell of the second run failed, was not recorded on the GPU, or is outside its
tolerance of the first run's value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _records(root: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in root.glob("*/*.json"):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(rec, dict) and "key" in rec and "cell" in rec:  # not the .exact/ checks
            out[rec["key"]] = rec
    return out


def _label(rec: dict[str, Any]) -> str:
    c = rec["cell"]
    backbone = c.get("settings", {}).get("backbone", "")
    method = c.get("method_label") or c["method"]
    parts = [c["track"], c.get("dataset_label") or c["dataset"], backbone, method, f"s{c['seed']}"]
    return "/".join(p for p in parts if p)


def compare(cpu_dir: Path, gpu_dir: Path, names: tuple[str, str] = ("cpu", "gpu")) -> tuple[list[str], bool]:
    """The table's lines (columns named after ``names``) and whether every GPU cell passed."""
    from harness.registry import REGISTRY
    from harness.track import within_device_tolerance

    cpu, gpu = _records(cpu_dir), _records(gpu_dir)
    name_a, name_b = names
    columns = ["cell", name_a, name_b, f"primary_{name_a}", f"primary_{name_b}", "abs_diff", "within"]
    columns += [f"train_s_{name_a}", f"train_s_{name_b}", "gpu_peak_mib", "group", "note"]
    lines = ["\t".join(columns)]
    per_track: dict[str, list] = {}
    good = True
    for key in sorted(set(cpu) | set(gpu), key=lambda k: _label(cpu.get(k) or gpu[k])):
        a, b = cpu.get(key), gpu.get(key)
        rec = a or b
        track = REGISTRY.get("track", rec["cell"]["track"]).load()
        x = (a or {}).get("metrics", {}).get(track.primary)
        y = (b or {}).get("metrics", {}).get(track.primary)
        diff = abs(x - y) if x is not None and y is not None else None
        within = diff is not None and within_device_tolerance(track, x, y)
        prov = (b or {}).get("provenance", {})
        on_gpu = prov.get("device", "").startswith("cuda")
        note = (b or {}).get("error", "")[:120] or prov.get("device_note", "")
        declared_cpu = prov.get("device_note", "").startswith("runs on the CPU")
        good = good and bool(b) and b["status"] == "ok" and within and (on_gpu or declared_cpu)
        t = per_track.setdefault(track.name, [0, 0, 0, 0.0, 0.0])
        t[0] += 1
        t[1] += bool(a and b and a["status"] == b["status"] == "ok")
        t[2] += within
        t[3] += (a or {}).get("train_seconds", 0.0)
        t[4] += (b or {}).get("train_seconds", 0.0)
        peak = prov.get("gpu", {}).get("peak_allocated", 0) / 1024**2
        lines.append(
            "\t".join(
                [
                    _label(rec),
                    (a or {}).get("status", "-"),
                    (b or {}).get("status", "-"),
                    _fmt(x),
                    _fmt(y),
                    _fmt(diff),
                    "yes" if within else "NO",
                    f"{(a or {}).get('train_seconds', 0.0):.3f}",
                    f"{(b or {}).get('train_seconds', 0.0):.3f}",
                    f"{peak:.1f}",
                    str(prov.get("group", {}).get("size", "-")),
                    note,
                ]
            )
        )
    lines.append("")
    lines.append(
        f"track\tcells\tok_both\twithin_tolerance\ttolerance\ttrain_s_{name_a}\ttrain_s_{name_b}\t{name_a}_over_{name_b}"
    )
    for name, (n, ok, within, tc, tg) in sorted(per_track.items()):
        tol = REGISTRY.get("track", name).load().device_tolerance
        ratio = f"{tc / tg:.2f}" if tg > 0 else "-"
        lines.append(f"{name}\t{n}\t{ok}\t{within}\t{tol}\t{tc:.2f}\t{tg:.2f}\t{ratio}")
    return lines, good


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def main() -> int:
    args = sys.argv[1:]
    names = ("cpu", "gpu")
    if args[:1] == ["--names"] and len(args) > 1 and len(args[1].split(",")) == 2:
        names = tuple(args[1].split(","))
        args = args[2:]
    if len(args) != 2:
        print("usage: python benchmarks/gpu_compare.py [--names A,B] RESULTS_A RESULTS_B", file=sys.stderr)
        return 2
    lines, good = compare(Path(args[0]), Path(args[1]), names)
    print("\n".join(lines))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
