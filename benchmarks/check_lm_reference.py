"""The harness's label scores on the real causal LM against plain transformers (no ``build_plan``).

Run by hand (needs the real backbone, built on first use):

    python benchmarks/check_lm_reference.py [--backbone qwen2.5-0.5b] [--texts 20] [--patterns review p1 p2]

For each pattern, the first ``--texts`` validation texts of ``sentiment[eval_per_class=500]`` (half
per class, cut to 120 characters) are scored three ways: the plain reference
(``harness.models.lm_reference``: the filled string tokenized by the tokenizer, the start token first,
one ``model(input_ids)`` per option, whole-sequence log-likelihood), ``lm_scoring.option_scores``
(batched, the whole model) and the track's own path ``lm.frozen_scores`` (cached lower-layer states
+ the top layers for a label-last prompt, stored whole-model scores otherwise). Prints one JSON line
per (pattern, path): max |difference| of the label-normalised scores in nats and the share of texts
whose argmax agrees. Exits 1 if any difference exceeds ``--tol``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from types import SimpleNamespace

from harness.data.chinese import sentiment
from harness.engine.runner import set_threads
from harness.models import lm_reference, lm_scoring
from harness.tracks.fewshot import lm
from harness.tracks.fewshot.pattern import resolve_pattern
from harness.tracks.fewshot.recipe import FewShotRecipe


def balanced(texts: list[str], labels: list[int], n: int) -> tuple[list[str], list[int]]:
    """The first n // 2 texts of each class, in split order."""
    keep = [i for c in (0, 1) for i in [j for j, y in enumerate(labels) if y == c][: n // 2]]
    keep.sort()
    return [texts[i] for i in keep], [labels[i] for i in keep]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--texts", type=int, default=20)
    ap.add_argument("--patterns", nargs="+", default=["review", "p1", "p2"])
    ap.add_argument("--train-layers", default="lora-top1", help="decides the cached layer of the track's path")
    ap.add_argument("--max-chars", type=int, default=120)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-3, help="max |diff| in nats allowed (fp32)")
    args = ap.parse_args()

    set_threads(args.threads)
    data = sentiment(eval_per_class=500)
    texts, labels = balanced(data.valid_texts, data.valid_labels, args.texts)
    settings = SimpleNamespace(train_layers=args.train_layers, max_chars=args.max_chars, pattern="review")
    worst = 0.0
    for name in args.patterns:
        env = lm.setup(args.backbone, FewShotRecipe("pet", name, train=False), settings, "quick")
        t0 = time.perf_counter()
        plain = lm_reference.plain_sequence_logprobs(
            env.model, env.tok, texts, resolve_pattern(name), env.words, args.max_chars
        )
        plain_s = time.perf_counter() - t0
        paths = {
            "option_scores": lambda env=env: lm_scoring.option_scores(
                env.model, env.tok, texts, env.pattern, env.words, max_text_chars=args.max_chars
            ),
            "track (frozen_scores)": lambda env=env: lm.frozen_scores(env, texts),
        }
        for path, score in paths.items():
            found = lm_reference.compare(score(), plain)
            worst = max(worst, found["max_abs_diff_nats"])
            row = {
                "pattern": name,
                "path": path,
                "texts": len(texts),
                "max_abs_diff_nats": float(f"{found['max_abs_diff_nats']:.2g}"),
                "argmax_agreement": found["argmax_agreement"],
                "plain_accuracy": lm_scoring.accuracy(plain, labels),
                "plain_seconds": round(plain_s, 1),
            }
            print(json.dumps(row, ensure_ascii=False), flush=True)
    print(json.dumps({"worst_max_abs_diff_nats": float(f"{worst:.2g}"), "tol": args.tol}))
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
