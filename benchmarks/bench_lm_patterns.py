"""Zero-shot validation accuracy of each candidate pattern on a causal LM: how a suite's prompt is chosen.

Run by hand (needs the real backbone, built on first use):

    python benchmarks/bench_lm_patterns.py [--backbone qwen2.5-0.5b] [--valid 200] [--train-layers lora-top2]

Scores the first ``--valid`` validation texts of ``sentiment[eval_per_class=500]`` (the quick block's
validation texts; never test texts) under Su's P1/P2 and each label-last prompt of
``harness.tracks.fewshot.pattern.PROMPTS``, raw and contextually calibrated, through the track's own
code path (``lm.frozen_scores``: the label-last prompts' states land in the shared cache the suite's
cells reuse). Rule: the prompt with the highest raw validation accuracy is the block's ``pattern``
(PET trains and is tested on raw scores; calibration only serves zero-shot rows); ties go to the
calibrated score. Until fewshot version 3 the rule read "raw or calibrated"; under the newline start
rule that would pick ``verdict`` (0.780 calibrated, a constant predictor raw: 0.500) over ``review``
(0.770 raw) by 2 of 200 texts, a prompt PET would start training from as a constant predictor.
Prints one JSON line per pattern and the choice, with the CPU and wall seconds of each (say whether
the machine was loaded).

``--start bos|im_start|none`` scores with another start token than the harness's rule (a newline,
``lm_scoring.start_token_id``) through ``lm_scoring.option_scores`` (the whole model): how the rule
was chosen. ``none`` cannot score a pattern whose label word comes first, nor calibrate with the
empty content-free input a pattern that starts with the text (printed as null).
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

from harness.data.chinese import sentiment
from harness.engine.runner import set_threads
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
    ap.add_argument("--start", choices=["rule", "bos", "im_start", "none"], default="rule")
    args = ap.parse_args()

    set_threads(args.threads)
    data = sentiment(eval_per_class=500)
    texts, labels = data.valid_texts[: args.valid], data.valid_labels[: args.valid]
    settings = SimpleNamespace(train_layers=args.train_layers, max_chars=args.max_chars, pattern="p1")
    results = []
    for name in args.patterns:
        t0, c0 = time.perf_counter(), time.process_time()
        env = lm.setup(args.backbone, FewShotRecipe("pet", name, train=False), settings, "quick")
        if args.start == "rule":
            scores = lm.frozen_scores(env, texts)
            calibrated = lm._calibrate(env, scores)
        else:
            scores, calibrated = other_start(env, texts, args.start)
        if scores is None:
            print(json.dumps({"pattern": name, "start": args.start, "valid_accuracy": None}), flush=True)
            continue
        row = {
            "pattern": name,
            "start": args.start,
            "words": env.words,
            "label_last": lm.plan_of(env, texts[:1]).last_token_only,
            "valid_accuracy": round(lm._accuracy(scores, labels), 4),
            "valid_accuracy_calibrated": None if calibrated is None else round(lm._accuracy(calibrated, labels), 4),
            "positive_rate": round(sum(scores.argmax(-1).tolist()) / len(texts), 3),
            "texts": len(texts),
            "wall_s": round(time.perf_counter() - t0, 1),
            "cpu_s": round(time.process_time() - c0, 1),
        }
        results.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    prompts = [r for r in results if r["pattern"] in PROMPTS]
    if prompts:
        best = max(prompts, key=lambda r: (r["valid_accuracy"], r["valid_accuracy_calibrated"] or 0))
        print(json.dumps({"chosen": best["pattern"], "rule": "highest raw validation accuracy, then calibrated"}))


def other_start(env, texts: list[str], start: str):
    """(raw, calibrated) scores with another start token than the rule's newline; (None, None) when the
    pattern cannot be scored without one, calibrated None when its content-free inputs cannot."""
    from harness.errors import HarnessError
    from harness.models import lm_scoring

    text = {"bos": env.tok.bos_token, "im_start": "<|im_start|>", "none": lm_scoring.START_TEXT}[start]
    saved, lm_scoring.START_TEXT = lm_scoring.START_TEXT, text
    kw = dict(max_text_chars=env.cut, start_token=start != "none")
    try:
        try:
            raw = lm_scoring.option_scores(env.model, env.tok, texts, env.pattern, env.words, **kw)
        except HarnessError:
            return None, None
        try:
            cf = lm_scoring.option_scores(
                env.model, env.tok, list(lm_scoring.CONTENT_FREE), env.pattern, env.words, **kw
            )
        except HarnessError:
            return raw, None
        return raw, lm_scoring.calibrated(raw, cf)
    finally:
        lm_scoring.START_TEXT = saved


if __name__ == "__main__":
    main()
