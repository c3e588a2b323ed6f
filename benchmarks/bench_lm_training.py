"""Seconds per PET training step on a causal LM for each training option, and the peak memory of each.

Run by hand, one option per process (peak RSS is per process):

    python benchmarks/bench_lm_training.py top2 [--steps 4] [--backbone qwen2.5-0.5b] [--threads 1]

``--loss pet`` / ``--loss head`` time the fewshot track's own steps (PET's pooled label-word + next-token
loss; the linear head) instead of the plain label cross-entropy.

Options: ``topK`` (layers N-K..N-1 + final norm trainable, over cached lower-layer states), ``topK-head``
(also the output layer), ``lora-topK`` (LoRA r=8 on every linear of those layers, over cached states),
``lora-full`` (LoRA in every layer, from token ids: nothing can be cached). Batch 8 texts of the
validation split (cut to 120 characters), the label-last prompt, loss = cross-entropy over the label
scores (PET's verbalizer loss), AdamW. Prints wall and CPU seconds per step (median after the first)
and the cost of building the cached states; say whether the machine was loaded.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from harness.data.chinese import sentiment
from harness.models import lm_scoring, lm_states
from harness.models.lm_backbones import load_backbone

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("option", help="topK | topK-head | lora-topK | lora-full (K = number of top layers)")
    ap.add_argument("--steps", type=int, default=4, help="timed steps after one warm-up step")
    ap.add_argument("--backbone", default="qwen2.5-0.5b")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pattern", default="评论：{x}\n这条评论的情感是：{y}")
    ap.add_argument("--verbalizers", nargs="+", default=["负面", "正面"])
    ap.add_argument(
        "--loss",
        choices=["labels", "pet", "head"],
        default="labels",
        help="labels: cross-entropy over the label scores; pet: the fewshot track's PET loss (label-word NLL "
        "pooled with next-token NLL at --lm-rate of the positions); head: the track's linear head on the last state",
    )
    ap.add_argument(
        "--lm-rate", type=float, default=0.15, help="share of positions with a next-token loss (--loss pet)"
    )
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = sentiment(eval_per_class=8)
    texts, labels = data.valid_texts[:16], data.valid_labels[:16]
    model, tok = load_backbone(args.backbone)
    pad = tok.pad_token_id if tok.pad_token_id is not None else lm_scoring.start_token_id(tok)
    plan = lm_scoring.build_plan(tok, lm_scoring.Pattern(args.pattern), texts, args.verbalizers, max_text_chars=120)
    batches = [
        (lm_scoring.Plan(plan.prefix, plan.options[b : b + 8], plan.split[b : b + 8]), torch.tensor(labels[b : b + 8]))
        for b in range(0, len(texts), 8)
    ]
    n_layers = model.config.num_hidden_layers
    for p in model.parameters():
        p.requires_grad_(False)

    opt = args.option
    lora = opt.startswith("lora")
    layer = 0 if opt == "lora-full" else n_layers - int(opt.replace("lora-", "").replace("-head", "")[3:])
    if lora:
        from peft import LoraConfig, inject_adapter_in_model

        cfg = LoraConfig(
            r=8,
            lora_alpha=16,
            lora_dropout=0.0,
            target_modules=LORA_TARGETS,
            layers_to_transform=list(range(layer, n_layers)),
        )
        inject_adapter_in_model(cfg, model)
        train = [p for n, p in model.named_parameters() if "lora_" in n]
    else:
        train = [p for i in range(layer, n_layers) for p in model.model.layers[i].parameters()]
        train += list(model.model.norm.parameters())
    if opt.endswith("-head"):
        train += list(model.lm_head.parameters())
    for p in train:
        p.requires_grad_(True)
    info = {"option": opt, "backbone": args.backbone, "trainable_parameters": sum(p.numel() for p in train)}

    if opt == "lora-full":  # the "states" are the token embeddings, recomputed every step

        def states_of(sub):
            ids, _ = lm_scoring.pad_ids(lm_states.state_sequences(sub), pad)
            hidden = model.model.embed_tokens(ids)
            return [hidden[r, : len(s)] for r, s in enumerate(lm_states.state_sequences(sub))]
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        cached = [
            lm_states.lower_states(model, lm_states.state_sequences(sub), layer, pad_id=pad) for sub, _ in batches
        ]
        info["state_build_per_100_texts_s"] = round((time.perf_counter() - t0) * 100 / len(texts), 1)
        info["state_build_per_100_texts_cpu_s"] = round((time.process_time() - c0) * 100 / len(texts), 1)

        def states_of(sub):
            return cached[[b for b, _ in batches].index(sub)]

    top = lm_states.TopLayers(model, layer)
    loss_of = _track_loss(args, top, batches, states_of, model, train) if args.loss != "labels" else None
    optimizer = torch.optim.AdamW(train, lr=1e-5)
    wall, cpu = [], []
    for step in range(args.steps + 1):
        sub, y = batches[step % len(batches)]
        t0, c0 = time.perf_counter(), time.process_time()
        if loss_of is None:
            loss = torch.nn.functional.cross_entropy(top.option_scores(sub, states_of(sub)), y)
        else:
            loss = loss_of(sub, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        print(f"step {step}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU, loss {loss.item():.4f}", flush=True)
    info["loss"] = args.loss + (f" (lm_rate {args.lm_rate:g})" if args.loss == "pet" else "")
    info.update(
        step_wall_s=round(statistics.median(wall[1:]), 2) if args.steps else None,
        step_cpu_s=round(statistics.median(cpu[1:]), 2) if args.steps else None,
        first_step_cpu_s=round(cpu[0], 2),
        peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    )
    print(json.dumps(info))


def _track_loss(args, top, batches, states_of, model, train):
    """The fewshot track's own step losses (harness/tracks/fewshot/lm_train.py) on the same batches."""
    from harness.tracks.fewshot import lm_train

    gen = torch.Generator().manual_seed(0)
    if args.loss == "head":
        module = lm_train.HeadOnTop(top, 2, seed=0)
        train += list(module.head.parameters())

    def loss_of(sub, y):
        states = states_of(sub)
        data = lm_train.PlanStates(sub, states, lm_states.state_sequences(sub))
        idx = list(range(len(sub.options)))
        if args.loss == "head":
            return lm_train.head_step_loss(module, data, y.tolist(), idx)
        return lm_train.pet_step_loss(top, data, y.tolist(), idx, args.lm_rate, gen)

    return loss_of


if __name__ == "__main__":
    main()
