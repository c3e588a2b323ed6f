"""The measured components the causal-LM cost model (``harness/models/lm_cost.py``) is fitted on.

Run by hand (needs the real backbone, built on first use):

    python benchmarks/bench_lm_costs.py [--backbone qwen2.5-0.5b] [--texts 64] [--repeat 3]

Each component runs ``--repeat`` times on the first ``--texts`` validation reviews under the quick
block's prompt, CPU seconds of this process on one thread (the median), and its work is counted by the
cost model's own meter (``lm_cost.metered``), so the printed rate is exactly what the model needs:

- ``load``: loading the fp32 folder (seconds);
- ``forward``: building lower-layer states up to layer 23, packed (FLOP/s);
- ``train``: a LoRA top-1 and top-2 training step of 8 texts, the head's loss read at one position per
  text (FLOP/s of the top layers' forward and backward, the output layer's share taken out);
- ``head_train``: the output layer forward and backward at 60 positions (PET's language-model loss), its
  weight frozen as in training (before issue 29's refit it was not: the weight's gradient was timed too,
  which halved the rate and made head-bound cells, dialogue's above all, ~1.5x overestimated);
- ``head``: the output layer forward at 64 positions;
- ``step_s``: a step's fixed part (optimizer, clipping, Python) on a one-text, one-token batch;
- ``generate``: one sampled token of a reply through the whole model with its key/value cache (seconds).

Prints one JSON line per component and the ``Rates`` to paste; say what else ran on the machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from harness.data.chinese import sentiment
from harness.engine.runner import set_threads
from harness.models import lm_cost, lm_scoring, lm_states
from harness.models.lm_backbones import load_backbone
from harness.models.lm_lora import make_trainable


def measure(fn, repeat: int) -> tuple[float, lm_cost.Meter]:
    """Median CPU seconds of ``fn`` and the work one call charged."""
    fn()  # warm-up
    times, meter = [], None
    for _ in range(repeat):
        with lm_cost.metered() as m:
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        meter = m
    return statistics.median(times), meter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--texts", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    set_threads(1)
    torch.manual_seed(0)
    t0 = time.process_time()
    model, tok = load_backbone(args.backbone)
    out = {"load_s": time.process_time() - t0}
    data = sentiment(eval_per_class=500)
    pattern = lm_scoring.Pattern("评论：{x}\n这条评论的情感是：{y}")
    plan = lm_scoring.build_plan(tok, pattern, data.valid_texts[: args.texts], ["负面", "正面"], max_text_chars=120)
    seqs = lm_states.state_sequences(plan)
    n = model.config.num_hidden_layers

    s, m = measure(lambda: lm_states.lower_states(model, seqs, n - 1, batch_size=16), args.repeat)
    out["forward"] = m.flops["forward"] / s
    states = lm_states.lower_states(model, seqs, n - 2, batch_size=16)
    top_states = lm_states.lower_states(model, seqs, n - 1, batch_size=16)
    for depth, given in ((1, top_states), (2, states)):
        top, _ = make_trainable(copy.deepcopy(model), n - depth, True, 0)  # a fresh copy: adapters once
        opt = torch.optim.AdamW([p for p in top.parameters() if p.requires_grad], lr=1e-4)
        batch = given[:8]

        def step(top=top, batch=batch, opt=opt) -> None:
            final = top.final_at(batch, range(len(batch)), [b.shape[0] - 1 for b in batch])
            final.square().mean().backward()
            opt.step()
            opt.zero_grad()

        s, m = measure(step, args.repeat)
        out[f"train_top{depth}"] = m.flops["train"] / s
    model.requires_grad_(False)  # frozen, as in every arm's training: the backward needs only the input's gradient
    hidden = torch.randn(60, model.config.hidden_size, requires_grad=True)
    target = torch.randint(0, model.config.vocab_size, (60,))

    def head_train() -> None:
        torch.nn.functional.cross_entropy(lm_scoring.head_logits(model, hidden).float(), target).backward()

    s, m = measure(head_train, args.repeat)
    out["head_train"] = m.flops["head_train"] / s
    with torch.inference_mode():
        h64 = torch.randn(64, model.config.hidden_size)
        s, m = measure(lambda: lm_scoring.head_logits(model, h64), args.repeat)
    out["head"] = m.flops["head"] / s
    top, _ = make_trainable(copy.deepcopy(model), n - 1, True, 0)
    opt = torch.optim.AdamW([p for p in top.parameters() if p.requires_grad], lr=1e-4)
    one = [top_states[0][:1]]

    def tiny_step() -> None:
        top.final_at(one, [0], [0]).sum().backward()
        torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    out["step_s"], _ = measure(tiny_step, args.repeat)
    ids = torch.tensor([seqs[0]])
    with torch.inference_mode():
        res = model(input_ids=ids, use_cache=True)
        past = res.past_key_values
        nxt = torch.tensor([[int(res.logits[0, -1].argmax())]])

        def one_token() -> None:
            model(input_ids=nxt, past_key_values=past, use_cache=True)

        out["generate_token_s"], _ = measure(one_token, args.repeat * 5)
    for k, v in out.items():
        print(json.dumps({"component": k, "value": round(v / 1e9, 1) if v > 1e3 else round(v, 4),
                          "unit": "GFLOP/s" if v > 1e3 else "s"}))  # fmt: skip
    train = out["train_top2"]  # a top-1 step is mostly its fixed part (step_s), not FLOPs
    print(
        f"Rates(forward={out['forward']:.3g}, train={train:.3g}, head={out['head']:.3g}, "
        f"head_train={out['head_train']:.3g}, step_s={out['step_s']:.3g}, load_s={out['load_s']:.3g})"
    )


if __name__ == "__main__":
    main()
