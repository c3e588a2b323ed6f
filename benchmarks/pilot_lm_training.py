"""The validation pilot behind the quick suite's Qwen training settings, per arm, with error bars.

Run by hand (needs the real backbone; resumable: finished runs are read back from ``--out``, and a
second process may share the grid):

    python benchmarks/pilot_lm_training.py --arms pet head-finetune --k 16 0 \\
        --configs lora-top1@3e-4 lora-top1@1e-3 lora-top2@3e-4 lora-top2@1e-3
    python benchmarks/pilot_lm_training.py --arms full --steps 500 --eval-every 25 \\
        --configs lora-top1@3e-4:300:10 lora-top1@1e-3 lora-top4@1e-3
    python benchmarks/pilot_lm_training.py --table          # the table from the runs in --out

A configuration is ``<layers>@<lr>`` with an optional ``:<steps>:<eval every>`` (else ``--steps`` and
``--eval-every``). Each run trains one arm of one (K, configuration, seed) through the fewshot track's
own code (``harness.tracks.fewshot.lm._train``, ``test=False``): the seed's K texts drawn as a suite
cell draws them (``full``: the first ``--full-texts`` train texts), the block's pattern, AdamW with
warmup/decay over the steps, validation accuracy on the first ``--valid`` validation texts every
``eval every`` steps, stopped after ``--patience`` evaluations without a new best. **Test texts are
never read.** Seeds are pilot seeds (100-102 by default), never a suite's. Each run appends one JSON
line (best validation accuracy, its step, steps trained, the curve, CPU and wall seconds).

Rule (printed with the table), per arm: the reference configuration (``--reference``, the recipe the
suite used before) unless another configuration's validation gain over it, paired by seed and K and
averaged over the K values, exceeds twice its standard error over seeds (the pilot's own noise): a
setting is preferred only where its gain is larger than the noise says chance could give. Among
several such, the largest gain. Say what else ran on the machine (``uptime``) when quoting seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from statistics import mean, stdev

from harness.data.cache import load_dataset
from harness.engine.context import RunContext
from harness.engine.runner import set_threads
from harness.registry import REGISTRY, load_builtins
from harness.track import method_recipe
from harness.tracks.fewshot import lm
from harness.tracks.fewshot.protocol import FewShot

DATASET = ("sentiment", {"eval_per_class": 500})


def parse_config(text: str, steps: int, every: int) -> tuple[str, float, int, int]:
    """``lora-top2@1e-3[:steps:every]`` -> (layers, lr, steps, eval every)."""
    head, _, rest = text.partition(":")
    layers, _, lr = head.partition("@")
    parts = rest.split(":") if rest else []
    return layers, float(lr), int(parts[0]) if parts else steps, int(parts[1]) if len(parts) > 1 else every


def config_name(layers: str, lr: float, steps: int, every: int) -> str:
    return f"{layers}@{lr:g}:{steps}:{every}"


def run_key(arm: str, k: int, config: str, seed: int, valid: int) -> str:
    return f"arm={arm} k={k} config={config} seed={seed} valid={valid}"


def run_one(args: argparse.Namespace, data, arm: str, k: int, config: tuple, seed: int) -> dict:
    """One arm of one configuration and seed, validation only."""
    layers, lr, steps, every = config
    settings = FewShot.Settings(
        k=k,
        steps=steps,
        full_steps=steps,
        eval_every=every,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=lr,
        valid_texts=args.valid,
        backbone=args.backbone,
        pattern=args.pattern,
        train_layers=layers,
        full_texts=args.full_texts,
    )
    recipe = method_recipe(FewShot, arm, REGISTRY.get("method", arm, "fewshot").resolve_params({}))
    ctx = RunContext(seed)
    texts, labels = FewShot().labelled_sample(settings, data, ctx.seed("sample"))
    if recipe.all_labels:
        texts, labels = list(data.train_texts[: args.full_texts]), list(data.train_labels[: args.full_texts])
    valid = (data.valid_texts[: args.valid], data.valid_labels[: args.valid])
    c0 = time.process_time()
    env = lm.setup(args.backbone, recipe, settings, "quick")
    for part in (texts, valid[0]):  # build (or read) the states first, so the timing below is training only
        lm.plan_states(env, part, head=recipe.kind == "head")
    setup_cpu = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    out = lm._train(env, recipe, settings, data, texts, labels, valid, ctx, test=False)
    curve = ctx.curves.get("valid_accuracy", [])
    name = config_name(*config)
    return {
        "key": run_key(arm, 0 if recipe.all_labels else k, name, seed, args.valid),
        "arm": arm,
        "k": 0 if recipe.all_labels else k,
        "labelled_texts": len(texts),
        "config": name,
        "layers": layers,
        "lr": lr,
        "steps": steps,
        "eval_every": every,
        "seed": seed,
        "valid_accuracy": out["valid_accuracy"],
        "best_step": int(out["best_step"]),
        "trained_steps": int(out["trained_steps"]),
        "curve": curve,
        "train_cpu_s": round(time.process_time() - c0, 1),
        "setup_cpu_s": round(setup_cpu, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
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


def _sd(xs: list[float]) -> float:
    return stdev(xs) if len(xs) > 1 else math.nan


def gains(runs: list[dict], arm: str, config: str, reference: str) -> dict[int, float]:
    """Per seed: ``config``'s validation accuracy minus the reference's, averaged over the K values both ran."""
    by = {(r["k"], r["seed"], r["config"]): r["valid_accuracy"] for r in runs if r["arm"] == arm}
    per_seed: dict[int, list[float]] = {}
    for k, seed, c in by:
        if c == config and (k, seed, reference) in by:
            per_seed.setdefault(seed, []).append(by[(k, seed, c)] - by[(k, seed, reference)])
    return {s: mean(v) for s, v in per_seed.items()}


def choose(runs: list[dict], arm: str, reference: str) -> tuple[str, list[str]]:
    """The arm's configuration by the rule, and one line per alternative (gain, its SE, preferred or not)."""
    configs = sorted({r["config"] for r in runs if r["arm"] == arm} - {reference})
    lines, best, best_gain = [], reference, 0.0
    for c in configs:
        g = gains(runs, arm, c, reference)
        if len(g) < 2:
            lines.append(f"{arm} {c}: {len(g)} paired seed(s), no noise estimate yet")
            continue
        m, se = mean(g.values()), _sd(list(g.values())) / math.sqrt(len(g))
        won = m > 2 * se and m > 0
        lines.append(f"{arm} {c}: gain {m:+.3f} (SE {se:.3f}, {len(g)} seeds){' > 2 SE: preferred' if won else ''}")
        if won and m > best_gain:
            best, best_gain = c, m
    return best, lines


def table(runs: list[dict], reference: str) -> str:
    """The pilot's table (markdown, mean +- sd over seeds) and each arm's choice."""
    lines = [
        "| arm | K | config (layers@lr:steps:eval every) | seeds | valid accuracy | best step | steps trained | "
        "train CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["arm"], r["k"], r["config"]), []).append(r)
    for (arm, k, config), rs in sorted(groups.items()):
        acc = [r["valid_accuracy"] for r in rs]
        lines.append(
            f"| {arm} | {'1%' if k == 0 and arm != 'full' else 'all' if arm == 'full' else k} | {config} | {len(rs)} | "
            f"{mean(acc):.3f} ± {_sd(acc):.3f} | {mean(r['best_step'] for r in rs):.0f} | "
            f"{mean(r['trained_steps'] for r in rs):.0f} | {mean(r['train_cpu_s'] for r in rs):.0f} |"
        )
    lines += ["", f"rule: per arm, the reference {reference} unless another configuration's validation gain over it "
              "(paired by seed and K, averaged over K) exceeds twice its standard error over seeds"]  # fmt: skip
    for arm in sorted({r["arm"] for r in runs}):
        ref = next((c for c in sorted({r["config"] for r in runs if r["arm"] == arm}) if c.startswith(reference)), None)
        if ref is None:
            lines.append(f"{arm}: the reference was not run")
            continue
        chosen, why = choose(runs, arm, ref)
        lines += [f"- {w}" for w in why] + [f"**{arm}: {chosen}**"]
    valid = sorted({r["valid_texts"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    lines.append(f"\n{len(runs)} runs; validation texts {valid}; seeds {seeds}; test texts never read")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--pattern", default="review")
    ap.add_argument("--k", type=int, nargs="+", default=[16, 0], help="labelled texts (0 = 1%% of train)")
    ap.add_argument("--arms", nargs="+", default=["pet", "head-finetune"])
    ap.add_argument("--configs", nargs="+", default=["lora-top1@3e-4"], help="<layers>@<lr>[:<steps>:<eval every>]")
    ap.add_argument("--reference", default="lora-top1@0.0003", help="the configuration the rule starts from")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--valid", type=int, default=500)
    ap.add_argument("--full-texts", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/pilot_lm_training.jsonl", help="the runs (committed with the table)")
    ap.add_argument("--table", action="store_true", help="only print the table of the runs in --out")
    args = ap.parse_args()

    out = Path(args.out)
    if args.table:
        print(table(read_runs(out), args.reference))
        return
    load_builtins()
    set_threads(args.threads)
    name, params = DATASET
    data = load_dataset(name, REGISTRY.get("dataset", name).resolve_params(params))
    configs = [parse_config(c, args.steps, args.eval_every) for c in args.configs]
    grid = [
        (seed, arm, k, c)
        for seed in args.seeds  # seeds outermost: two finished seeds already give every setting an error bar
        for c in configs
        for arm in args.arms
        for k in ([0] if arm == "full" else args.k)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    for seed, arm, k, c in grid:
        key = run_key(arm, k, config_name(*c), seed, args.valid)
        if key in {r["key"] for r in read_runs(out)}:
            continue
        held = claim(out, key)
        if held is None:
            continue
        row = run_one(args, data, arm, k, c, seed)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        held.unlink(missing_ok=True)
        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    print(table(read_runs(out), args.reference))


if __name__ == "__main__":
    main()
