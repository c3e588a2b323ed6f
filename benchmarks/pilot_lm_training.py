"""The validation pilot behind the quick suite's Qwen training settings: LoRA depth, lr and steps.

Run by hand (needs the real backbone; resumable: finished runs are read back from ``--out``):

    python benchmarks/pilot_lm_training.py [--k 0] [--depths 1 2 4 8] [--lrs 3e-4 1e-3 3e-3]
        [--arms pet head-finetune] [--steps 100] [--eval-every 10] [--patience 3] [--reverse]
    python benchmarks/pilot_lm_training.py --table          # the table from the runs in --out

Each run trains one arm of one (K, depth, lr) cell through the fewshot track's own code
(``harness.tracks.fewshot.lm._train``, ``test=False``): the seed's K texts drawn as a suite cell
draws them, the block's pattern, ``lora-top<depth>``, AdamW with warmup/decay over ``--steps``,
validation accuracy on the first ``--valid`` validation texts every ``--eval-every`` steps, stopped
after ``--patience`` evaluations without a new best. **Test texts are never read.** Each run appends
one JSON line (best validation accuracy, its step, the steps trained, the curve, CPU and wall seconds).

Rule (printed with the table): among the (depth, lr) run for every arm and K value whose best
validation step comes after the first evaluation in most of their runs (the model still improves
after it is first evaluated: trained until validation stops improving, not stopped at once), the one
with the highest validation accuracy averaged over the arms and K values; ties (within 0.0025) go to
the cheaper (smaller depth, then fewer CPU seconds). The table also names the highest mean without
that condition. PET and the head get the same grid and the same rule; the steps budget and patience
are the ones the pilot ran with (``--steps`` is a budget: no run used all of it). Say what else ran
on the machine (``uptime``) when quoting CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import mean

from harness.data.cache import load_dataset
from harness.engine.context import RunContext
from harness.engine.runner import set_threads
from harness.registry import REGISTRY, load_builtins
from harness.track import method_recipe
from harness.tracks.fewshot import lm
from harness.tracks.fewshot.protocol import FewShot

DATASET = ("sentiment", {"eval_per_class": 500})


def config_key(k: int, depth: int, lr: float, arm: str, seed: int) -> str:
    return f"k={k} depth={depth} lr={lr:g} arm={arm} seed={seed}"


def run_one(args: argparse.Namespace, data, k: int, depth: int, lr: float, arm: str) -> dict:
    """One arm of one cell, validation only."""
    settings = FewShot.Settings(
        k=k,
        steps=args.steps,
        eval_every=args.eval_every,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=lr,
        valid_texts=args.valid,
        backbone=args.backbone,
        pattern=args.pattern,
        train_layers=f"lora-top{depth}",
    )
    recipe = method_recipe(FewShot, arm, REGISTRY.get("method", arm, "fewshot").resolve_params({}))
    ctx = RunContext(args.seed)
    texts, labels = FewShot().labelled_sample(settings, data, ctx.seed("sample"))
    valid = (data.valid_texts[: args.valid], data.valid_labels[: args.valid])
    c0 = time.process_time()
    env = lm.setup(args.backbone, recipe, settings, "quick")
    for part in (texts, valid[0]):  # build (or read) the states first, so the timing below is training only
        lm.plan_states(env, part, head=recipe.kind == "head")
    setup_cpu = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    out = lm._train(env, recipe, settings, data, texts, labels, valid, args.steps, ctx, test=False)
    curve = ctx.curves.get("valid_accuracy", [])
    return {
        "key": config_key(k, depth, lr, arm, args.seed),
        "k": k,
        "labelled_texts": len(texts),
        "depth": depth,
        "lr": lr,
        "arm": arm,
        "seed": args.seed,
        "valid_accuracy": out["valid_accuracy"],
        "best_step": int(out["best_step"]),
        "trained_steps": int(out["trained_steps"]),
        "first_eval_accuracy": curve[0][1] if curve else None,
        "curve": curve,
        "train_cpu_s": round(time.process_time() - c0, 1),
        "setup_cpu_s": round(setup_cpu, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "steps": args.steps,
        "eval_every": args.eval_every,
        "patience": args.patience,
        "valid_texts": args.valid,
    }


def read_runs(path: Path) -> list[dict]:
    """The finished runs in ``path`` (the first of any duplicate)."""
    if not path.exists():
        return []
    runs: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            runs.setdefault(row["key"], row)
    return list(runs.values())


def claim(out: Path, key: str) -> Path | None:
    """A claim file for ``key`` so parallel processes never run one config twice; None when a live
    process holds it (a dead holder's claim is taken over)."""
    import hashlib
    import os

    path = out.with_name(f".{out.name}.{hashlib.sha1(key.encode()).hexdigest()[:12]}.claim")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(path.read_text() or "0"), 0)
            return None
        except (ProcessLookupError, ValueError):
            path.write_text(str(os.getpid()))
            return path
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return path


def table(runs: list[dict]) -> str:
    """The pilot's table and its choice (markdown)."""
    arms = sorted({r["arm"] for r in runs})
    ks = sorted({r["k"] for r in runs})
    lines = [
        "| K | depth | lr | " + " | ".join(f"{a}: valid (best step / trained)" for a in arms) + " | mean | CPU s |",
        "|---|---|---|" + "---|" * len(arms) + "---|---|",
    ]
    cells: dict[tuple, list[dict]] = {}
    for r in runs:
        cells.setdefault((r["depth"], r["lr"]), []).append(r)
    for k in ks:
        for (depth, lr), rs in sorted(cells.items()):
            row = {r["arm"]: r for r in rs if r["k"] == k}
            if not row:
                continue
            shown = [
                f"{row[a]['valid_accuracy']:.3f} ({row[a]['best_step']} / {row[a]['trained_steps']})"
                if a in row
                else "-"
                for a in arms
            ]
            acc = mean(r["valid_accuracy"] for r in row.values())
            cpu = sum(r["train_cpu_s"] for r in row.values())
            lines.append(f"| {k or '1%'} | {depth} | {lr:g} | " + " | ".join(shown) + f" | {acc:.3f} | {cpu:.0f} |")
    complete = {c: rs for c, rs in cells.items() if len(rs) == len(arms) * len(ks)}
    learning = {c: sum(r["best_step"] > r["eval_every"] for r in rs) * 2 > len(rs) for c, rs in complete.items()}
    if complete:
        score = {c: mean(r["valid_accuracy"] for r in rs) for c, rs in complete.items()}
        pool = [c for c in complete if learning[c]] or list(complete)
        top = max(score[c] for c in pool)
        near = [c for c in pool if score[c] >= top - 0.0025]
        depth, lr = min(near, key=lambda c: (c[0], sum(r["train_cpu_s"] for r in complete[c])))
        best_any = max(complete, key=lambda c: score[c])
        any_later = sum(r["best_step"] > r["eval_every"] for r in complete[best_any])
        later = sum(r["best_step"] > r["eval_every"] for r in runs)
        lines += [
            "",
            f"chosen: lora-top{depth}, lr {lr:g} (mean validation accuracy {score[(depth, lr)]:.3f} over "
            f"{', '.join(arms)} and K = {', '.join(str(k or '1%') for k in ks)})",
            "rule: among the configurations run for every arm and K whose best step comes after the first "
            "evaluation in most of their runs (still learning when first evaluated), the highest mean; ties "
            "within 0.0025 to the smaller depth, then the cheaper",
            f"highest mean without that condition: lora-top{best_any[0]}, lr {best_any[1]:g} ({score[best_any]:.3f}, "
            f"best step after the first evaluation in {any_later} of {len(complete[best_any])} runs)",
            f"best step after the first evaluation in {later} of {len(runs)} runs",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--pattern", default="review")
    ap.add_argument("--k", type=int, nargs="+", default=[0], help="labelled texts (0 = 1%% of train)")
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3])
    ap.add_argument("--arms", nargs="+", default=["pet", "head-finetune"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--valid", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reverse", action="store_true", help="run the grid from its end (a second process)")
    ap.add_argument(
        "--out",
        default="benchmarks/pilot_lm_training.jsonl",
        help="the runs (the committed file holds the pilot the quick suite cites)",
    )
    ap.add_argument("--table", action="store_true", help="only print the table of the runs in --out")
    args = ap.parse_args()

    out = Path(args.out)
    if args.table:
        print(table(read_runs(out)))
        return
    load_builtins()
    set_threads(args.threads)
    name, params = DATASET
    data = load_dataset(name, REGISTRY.get("dataset", name).resolve_params(params))
    done = {r["key"] for r in read_runs(out)}
    grid = [
        (k, d, lr, arm) for k in args.k for d in args.depths for lr in args.lrs for arm in args.arms
    ]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    for k, depth, lr, arm in reversed(grid) if args.reverse else grid:
        key = config_key(k, depth, lr, arm, args.seed)
        if key in done or key in {r["key"] for r in read_runs(out)}:
            continue
        held = claim(out, key)
        if held is None:
            continue
        row = run_one(args, data, k, depth, lr, arm)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        held.unlink(missing_ok=True)
        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    print(table(read_runs(out)))


if __name__ == "__main__":
    main()
