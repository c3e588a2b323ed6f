"""How close the causal LM's forward pass comes to the machine's own matmul peak, for scoring and for
building the cached states.

Run by hand (needs the real backbone, built on first use):

    python benchmarks/bench_lm_roofline.py [--backbone qwen2.5-0.5b] [--texts 64] [--threads 1]
        [--batch-sizes 8 16 32 64] [--layer 23]

Peak: the best FLOP/s of ``torch.nn.functional.linear`` over the model's own linear shapes (q/k/v/o,
gate/up/down and the output layer, weights as stored) at 256-2,048 rows, and a square 1,024 matmul,
with the same threads. Achieved: useful FLOPs (2 x tokens x parameters used: every real, unpadded
token through the decoder layers, plus 2 x scored positions x the output layer) over the seconds the
path took; attention's own score/value products (< 1% at these lengths) are not counted, padding is
counted as waste (there is none on a model ``lm_packed`` packs: sequences are concatenated, not
padded). A label-last plan needs its last layer only at the scored positions (plus keys and values
at every token), so only that part of it is counted. Paths, on the first ``--texts`` validation texts
under the quick block's prompt (``--batch-sizes``: texts per packed row or padded batch):

- ``score``: ``lm_scoring.score_plan`` (whole model, the output layer at the scored positions);
- ``states``: ``lm_states.lower_states`` up to ``--layer`` (the shared state cache's build).

``--padded`` also times the padded paths (before packing) in the same run, each right after the other.
Seconds are CPU seconds of this process when ``--threads 1`` (steadier than wall time on a shared
machine), wall seconds otherwise. Prints one JSON line per row and a markdown table; say what else
ran on the machine (``uptime``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time

import torch

from harness.data.chinese import sentiment
from harness.engine.runner import set_threads
from harness.models import lm_packed, lm_scoring, lm_states
from harness.models.lm_backbones import load_backbone


def clock(threads: int) -> float:
    return time.process_time() if threads == 1 else time.perf_counter()


def best_of(fn, threads: int, repeat: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = clock(threads)
        fn()
        times.append(clock(threads) - t0)
    return min(times)


def matmul_peak(model, threads: int) -> dict[str, float]:
    """FLOP/s of F.linear on the model's own weight shapes (and a square matmul): the ceiling."""
    layer = lm_scoring.base_model(model).layers[0]
    weights = {
        "q_proj": layer.self_attn.q_proj.weight,
        "k_proj": layer.self_attn.k_proj.weight,
        "o_proj": layer.self_attn.o_proj.weight,
        "gate_proj": layer.mlp.gate_proj.weight,
        "down_proj": layer.mlp.down_proj.weight,
        "lm_head": model.lm_head.weight,
    }
    out = {}
    with torch.inference_mode():
        for name, w in weights.items():
            for rows in (256, 512, 2048) if name != "lm_head" else (64, 256):
                x = torch.randn(rows, w.shape[1])
                s = best_of(lambda x=x, w=w: torch.nn.functional.linear(x, w), threads)
                out[f"{name}[{rows}]"] = 2 * rows * w.shape[0] * w.shape[1] / s
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        out["square 1024"] = 2 * 1024**3 / best_of(lambda: a @ b, threads)
    return out


def layer_parameters(model) -> list[int]:
    return [sum(p.numel() for p in layer.parameters()) for layer in lm_scoring.base_model(model).layers]


def score_work(plan: lm_scoring.Plan, per_layer: list[int], head: int, kv_last: int) -> tuple[float, int, int]:
    """(useful FLOPs, real tokens, scored positions) of ``score_plan`` on ``plan``. A label-last plan needs
    the last layer only at its scored positions (plus its keys and values at every token), so only that
    is counted there: work the scorer may skip is never counted as useful."""
    tokens = len(plan.prefix)
    positions = 0
    for opts, d in zip(plan.options, plan.split):
        tokens += d - len(plan.prefix) + sum(len(o) - d - 1 for o in opts)
        positions += 1 + sum(len(o) - d - 1 for o in opts)  # the first label token's logits once per text
    layers = 2.0 * tokens * sum(per_layer)
    if plan.last_token_only:
        layers = 2.0 * tokens * (sum(per_layer[:-1]) + kv_last) + 2.0 * positions * (per_layer[-1] - kv_last)
    return layers + 2.0 * positions * head, tokens, positions


@contextlib.contextmanager
def padded_paths():
    """The scorer and the state builder as they were before packing (issue 29): right-padded batches,
    the whole last layer at every position."""
    saved = lm_packed.packable, lm_scoring.packable
    lm_packed.packable = lm_scoring.packable = lambda base: False
    try:
        yield
    finally:
        lm_packed.packable, lm_scoring.packable = saved


def padded_tokens(lengths: list[int], batch: int) -> int:
    order = sorted(lengths)
    return sum(max(order[b : b + batch]) * len(order[b : b + batch]) for b in range(0, len(order), batch))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--layer", type=int, default=23, help="the states path runs layers 0..layer-1")
    ap.add_argument("--pattern", default="评论：{x}\n这条评论的情感是：{y}")
    ap.add_argument("--verbalizers", nargs="+", default=["负面", "正面"])
    ap.add_argument("--paths", nargs="+", default=["score", "states"], choices=["score", "states"])
    ap.add_argument("--padded", action="store_true", help="also the padded paths (before issue 29), side by side")
    ap.add_argument("--repeat", type=int, default=1, help="time each path this many times, keep the best")
    args = ap.parse_args()

    sys.stdout.reconfigure(line_buffering=True)  # rows appear as they are measured, also through a pipe
    set_threads(args.threads)
    torch.manual_seed(0)
    model, tok = load_backbone(args.backbone)
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm_scoring.start_token_id(tok)
    peaks = matmul_peak(model, args.threads)
    peak = max(peaks.values())
    print(json.dumps({"peak_gflops": round(peak / 1e9, 1), **{k: round(v / 1e9, 1) for k, v in peaks.items()}}))
    data = sentiment(eval_per_class=500)
    texts = data.valid_texts[: args.texts]
    plan = lm_scoring.build_plan(tok, lm_scoring.Pattern(args.pattern), texts, args.verbalizers, max_text_chars=120)
    per_layer, head = layer_parameters(model), model.lm_head.weight.numel()
    last = lm_scoring.base_model(model).layers[-1].self_attn
    kv_last = sum(p.numel() for m in (last.k_proj, last.v_proj) for p in m.parameters())
    packed = lm_packed.packable(lm_scoring.base_model(model))  # no padding at all (lm_packed)
    seqs = lm_states.state_sequences(plan)
    lm_scoring.score_plan(model, lm_scoring.Plan(plan.prefix, plan.options[:4], plan.split[:4]), 4, pad)  # warm-up
    rows = []

    def report(path: str, batch: int, tokens: int, padded: int, flops: float, s: float) -> None:
        rate = flops / s
        rows.append(
            f"| {path} | {batch} | {tokens} | {1 - tokens / max(padded, 1):.2f} | {s:.1f} | {rate / 1e9:.1f} | "
            f"{rate / peak:.0%} |"
        )
        print(json.dumps({"path": path, "batch": batch, "tokens": tokens, "seconds": round(s, 2),
                          "gflops": round(rate / 1e9, 1), "of_peak": round(rate / peak, 3)}))  # fmt: skip

    def timed(fn) -> float:
        best = math.inf
        for _ in range(args.repeat):
            t0 = clock(args.threads)
            fn()
            best = min(best, clock(args.threads) - t0)
        return best

    modes = ["padded", "packed"] if args.padded else ["packed"]
    for batch in args.batch_sizes:
        for mode in modes:
            with padded_paths() if mode == "padded" else contextlib.nullcontext():
                flat = packed and mode == "packed"
                tag = f" ({mode})" if args.padded else ""
                if "score" in args.paths:
                    flops, tokens, _ = score_work(plan, per_layer, head, kv_last)
                    s = timed(lambda b=batch: lm_scoring.score_plan(model, plan, b, pad))
                    middles = [d - len(plan.prefix) for d in plan.split]
                    report("score" + tag, batch, tokens, tokens if flat else padded_tokens(middles, batch), flops, s)
                if "states" in args.paths:
                    tokens = sum(len(q) for q in seqs)
                    s = timed(lambda b=batch: lm_states.lower_states(model, seqs, args.layer, batch_size=b, pad_id=pad))
                    flops = 2.0 * tokens * sum(per_layer[: args.layer])
                    padded = tokens if flat else padded_tokens([len(q) for q in seqs], batch)
                    report("states" + tag, batch, tokens, padded, flops, s)
    print("| path | batch | real tokens | padded share | seconds | achieved GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
