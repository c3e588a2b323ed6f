"""Long-lived worker process for the local executor: ``python -m harness.engine.worker``.

Why long-lived: a fresh interpreter that imports torch costs ~2 s (torch + transformers ~7 s),
which would dominate a suite of small cells. The worker reads one group per line on stdin (its
cells and identity, ``Group.to_message``; a lone cell is a group of one), runs it
(``harness.engine.runner.run_unit``: split in halves in this process when it runs out of memory),
writes each member's result file itself as it finishes (atomically, so a killed driver loses
nothing the worker finished), answers one JSON line per member on its protocol pipe, then
``{"done": true}``. Training code printing to stdout cannot corrupt
the protocol: stdout is redirected to stderr and the protocol uses a private duplicate.

With ``KEXUE_BENCH_FAKE_CUDA=1`` the worker runs on ``harness.engine.device_guard``'s pretend GPU (tests, and
checking a track's device handling on a machine without one): each record then says which matrix
products ran off the device (``provenance.fake_cuda``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harness.engine.worker")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", required=True)
    args = ap.parse_args(argv)

    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from harness.engine.cell import Cell
    from harness.engine.groups import Group
    from harness.engine.runner import run_unit, set_threads
    from harness.engine.store import Store
    from harness.registry import load_builtins

    set_threads(args.threads)
    load_builtins()
    store = Store(args.results)
    with ExitStack() as stack:
        guard = None
        if os.environ.get("KEXUE_BENCH_FAKE_CUDA", "") not in ("", "0"):
            from harness.engine.device_guard import fake_cuda

            guard = stack.enter_context(fake_cuda())
        proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
        for line in sys.stdin:
            if not line.strip():
                continue
            msg = json.loads(line)
            cells = tuple(Cell.from_dict(d) for d in msg["cells"])
            group = Group(cells, split_from=(msg.get("group") or {}).get("split_from", ""))
            for rec in run_unit(group, device=args.device, threads=args.threads):
                if guard is not None:  # what ran off the device while this group ran
                    rec["provenance"]["fake_cuda"] = {"cpu_ops": dict(guard.cpu_ops), "device_ops": guard.device_ops}
                store.write(rec)
                proto.write(
                    json.dumps({"key": rec["key"], "status": rec["status"], "error": rec.get("error", "")}) + "\n"
                )
            if guard is not None:
                guard.reset()
            proto.write(json.dumps({"done": True}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
