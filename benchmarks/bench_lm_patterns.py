"""Zero-shot validation accuracy of each candidate pattern on a causal LM: how a suite's prompt is chosen.

Run by hand (needs the real backbone, built on first use):

    python benchmarks/bench_lm_patterns.py [--backbone qwen2.5-0.5b] [--valid 200] [--train-layers lora-top2]

Scores the first ``--valid`` validation texts of ``sentiment[eval_per_class=500]`` (the quick block's
validation texts; never test texts) under Su's P1/P2 and each label-last prompt of
``harness.tracks.fewshot.pattern.PROMPTS``, raw and contextually calibrated, through the track's own
code path (``lm.frozen_scores``: the label-last prompts' states land in the shared cache the suite's
cells reuse). Rule: the prompt with the highest validation accuracy, raw or calibrated, is the block's
``pattern``; ties go to the raw score. Prints one JSON line per pattern and the choice, with the CPU
and wall seconds of each (say whether the machine was loaded).
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

from harness.data.chinese import sentiment
from harness.runner import set_threads
from harness.tracks.fewshot import lm
from harness.tracks.fewshot.pattern import PROMPTS
from harness.tracks.fewshot.recipe import FewShotRecipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--valid", type=int, default=200)
    ap.add_argument("--train-layers", default="lora-top2", help="decides the cached layer (shared with training)")
    ap.add_argument("--max-chars", type=int, default=120)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--patterns", nargs="+", default=["p1", "p2", *PROMPTS])
    args = ap.parse_args()

    set_threads(args.threads)
    data = sentiment(eval_per_class=500)
    texts, labels = data.valid_texts[: args.valid], data.valid_labels[: args.valid]
    settings = SimpleNamespace(train_layers=args.train_layers, max_chars=args.max_chars, pattern="p1")
    results = []
    for name in args.patterns:
        t0, c0 = time.perf_counter(), time.process_time()
        env = lm.setup(args.backbone, FewShotRecipe("pet", name, train=False), settings, "quick")
        scores = lm.frozen_scores(env, texts)
        calibrated = lm._calibrate(env, scores)
        row = {
            "pattern": name,
            "words": env.words,
            "label_last": lm.plan_of(env, texts[:1]).last_token_only,
            "valid_accuracy": round(lm._accuracy(scores, labels), 4),
            "valid_accuracy_calibrated": round(lm._accuracy(calibrated, labels), 4),
            "positive_rate": round(sum(scores.argmax(-1).tolist()) / len(texts), 3),
            "texts": len(texts),
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
        }
        results.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    prompts = [r for r in results if r["pattern"] in PROMPTS]
    if prompts:
        best = max(
            prompts, key=lambda r: (max(r["valid_accuracy"], r["valid_accuracy_calibrated"]), r["valid_accuracy"])
        )
        print(json.dumps({"chosen": best["pattern"], "rule": "highest validation accuracy, raw or calibrated"}))


if __name__ == "__main__":
    main()
