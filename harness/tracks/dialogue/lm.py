"""The dialogue track on a pretrained causal LM: Su's whole-dialogue format against per-turn pairs, LoRA
over cached lower-layer states (as the fewshot track trains).

Why a pretrained LM: a format effect measured on a tiny GPT trained from scratch on 467 dialogues (PPL
~200, a model that knows no Chinese) says little about DialoGPT-style fine-tuning, which starts from a
model that already reads the language.

Formats (the methods' ``DialogueFormat``), on the backbone's own tokens:

* speaker markers are text (``A：`` / ``B：`` before each turn), the LM's way of telling speakers apart:
  they stand in for the tiny GPT's segment embeddings (a pretrained LM has none to train); ``su-lm-noseg``
  drops them (turns told apart by the separator only);
* every turn ends with a newline, the separator; one start token (``lm_scoring.start_token_id``) opens
  every sequence. Utterances are tokenized one by one, so a turn's tokens are the same in every format;
* ``su``: one sample per dialogue, loss on every turn's tokens and its separator (markers excluded:
  they are given, not predicted); ``cdial``: one sample per (history, response) pair, loss on that
  response only: every pair re-reads its history, which is what "equal processed tokens" charges.

Held-out response perplexity: every turn from the second of the held-out dialogues, given its history,
in the arm's own format, over exactly the same target tokens for every arm (per token of the backbone's
tokenizer). A causal LM's state at a position does not depend on what follows, so one state sequence per
dialogue serves every turn of it and every pair cut from it: states are built once per dialogue, marker
mode and layer, and shared through the disk cache (``lm_store``).

Training: the arm's top layers (``train_layers``), AdamW with warmup/decay over the steps the token
budget buys (the batch order is drawn first, so the schedule is known), batches of ``batch_size``
samples, until ``train_tokens`` tokens have passed through the trained layers. Losses stay on the device
and are read at the evaluation points only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

MARKERS = ("A：", "B：")
SEPARATOR = "\n"


@dataclass
class Encoded:
    """One dialogue in one marker mode: ``ids`` (start token, then per turn: [marker] utterance separator)
    and per turn the [start, end) span of its targets (utterance and separator)."""

    ids: list[int]
    spans: list[tuple[int, int]]


@dataclass
class Sample:
    """A training or scoring sequence: the first ``length`` tokens of ``dialogue`` (an index into the
    encoded dialogues), its target positions ``targets`` (token indices predicted from the state before)."""

    dialogue: int
    length: int
    targets: list[int]


def encode(tok: Any, turns: list[str], markers: bool, ctx: int) -> Encoded:
    """``turns`` as token ids. Turns that would pass ``ctx`` tokens with markers are dropped (the dialogue
    is cut after the last whole turn that fits; a first turn longer than that is cut to fit), in every
    marker mode alike, so every format scores the same turns and the same target tokens."""
    from harness.models.lm_scoring import start_token_id

    ids, spans = [start_token_id(tok)], []
    sep = _ids(tok, SEPARATOR)
    used = 1  # tokens the dialogue takes with markers: what decides the cut in every mode
    for i, u in enumerate(turns):
        marker = _ids(tok, MARKERS[i % 2])
        utt = _ids(tok, u)
        room = ctx - used - len(marker) - len(sep)
        if len(utt) > room:
            if spans:
                break
            utt = utt[: max(room, 1)]
        used += len(marker) + len(utt) + len(sep)
        ids += marker if markers else []
        spans.append((len(ids), len(ids) + len(utt) + len(sep)))
        ids += utt + sep
    return Encoded(ids, spans)


def _ids(tok: Any, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def training_samples(kind: str, encoded: list[Encoded]) -> list[Sample]:
    """``su``: each dialogue whole, every turn a target; ``cdial``: each (history, response) pair."""
    out = []
    for d, e in enumerate(encoded):
        if kind == "su":
            out.append(Sample(d, len(e.ids), [t for a, b in e.spans for t in range(a, b)]))
        elif kind == "cdial":
            out += [Sample(d, b, list(range(a, b))) for a, b in e.spans[1:]]
        else:
            raise HarnessError(f"unknown dialogue format {kind!r}")
    return out


def scoring_samples(encoded: list[Encoded]) -> list[Sample]:
    """Every turn from the second, given its history: one sample per held-out dialogue (states are causal);
    a dialogue cut to one turn by ``ctx`` scores nothing."""
    out = [Sample(d, len(e.ids), [t for a, b in e.spans[1:] for t in range(a, b)]) for d, e in enumerate(encoded)]
    return [x for x in out if x.targets]


def batch_order(samples: list[Sample], batch: int, budget: int, gen: Any) -> list[list[int]]:
    """Batches of sample indices, epoch by epoch in a random order, until ``budget`` tokens are processed."""
    import torch

    out, tokens, order = [], 0, []
    while tokens < budget:
        if len(order) < batch:
            order += torch.randperm(len(samples), generator=gen).tolist()
        out.append(order[:batch])
        tokens += sum(samples[i].length for i in order[:batch])
        del order[:batch]
    return out


def nll_sum(top: Any, states: list[Any], samples: list[Sample], ids: list[list[int]]) -> tuple[Any, int]:
    """Summed next-token NLL of the samples' targets (full vocabulary), and how many targets."""
    import torch
    from torch.nn import functional as F

    from harness.models.lm_scoring import head_logits

    rows, cols, targets = [], [], []
    for r, smp in enumerate(samples):
        for t in smp.targets:
            rows.append(r)
            cols.append(t - 1)
            targets.append(ids[smp.dialogue][t])
    final = top.final_at([states[s.dialogue][: s.length] for s in samples], rows, cols)
    logits = head_logits(top.lm, final).float()
    return F.cross_entropy(logits, torch.tensor(targets, device=logits.device), reduction="sum"), len(targets)


def response_nll(top: Any, states: list[Any], samples: list[Sample], ids: list[list[int]], batch: int = 8) -> float:
    """Mean NLL per target token of the held-out scoring samples (no gradient)."""
    import torch

    total, count = 0.0, 0
    was = top.training
    top.eval()
    with torch.inference_mode():
        for b in range(0, len(samples), batch):
            s, n = nll_sum(top, states, samples[b : b + batch], ids)
            total, count = total + float(s), count + n
    top.train(was)
    return total / max(count, 1)


def sample_replies(model: Any, tok: Any, contexts: list[str], markers: bool, s: Any, ctx: Any) -> list[str]:
    """Top-k sampled replies (the whole model, trained top included) to each context, up to the separator.

    Sampled together (prompts left-padded, one decoding step for all): a decoding step reads every weight
    once whatever the batch, so 40 replies cost about what one does."""
    import inspect

    import torch

    from harness.models.lm_cost import charge, charge_decode
    from harness.models.lm_scoring import start_token_id

    if not contexts:
        return []
    g = ctx.generator("sample")  # on the CPU: a GPU run draws the same replies from the same logits
    dev = next(model.parameters()).device
    sep = _ids(tok, SEPARATOR)
    start = start_token_id(tok)
    prompts = [
        [start, *(_ids(tok, MARKERS[0]) if markers else []), *_ids(tok, c)[: s.ctx // 2], *sep]
        + (_ids(tok, MARKERS[1]) if markers else [])
        for c in contexts
    ]
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), start, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :], mask[i, width - len(p) :] = torch.tensor(p), 1
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    replies: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    n_params = sum(p.numel() for p in model.parameters())
    charge("forward", 2.0 * int(mask.sum()) * n_params)  # the prompts (all layers; the output layer is small)
    model.eval()
    with torch.inference_mode():
        res = model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev), use_cache=True)
        for _ in range(s.reply_max_len):
            charge_decode(n_params)
            top = torch.topk(res.logits[:, -1].float(), s.top_k, dim=-1)
            draw = torch.multinomial(torch.softmax(top.values, -1).cpu(), 1, generator=g)
            nxt = top.indices.cpu().gather(1, draw)[:, 0]
            for i, t in enumerate(nxt.tolist()):
                if not done[i]:
                    replies[i].append(t)
                    done[i] = replies[i][-len(sep) :] == sep
            if all(done):
                break
            mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=torch.long)], dim=1)
            pos = pos[:, -1:] + 1
            past = getattr(res, "cache", None) or getattr(res, "past_key_values", None)
            res = model(
                input_ids=nxt[:, None].to(dev),
                attention_mask=mask.to(dev),
                position_ids=pos.to(dev),
                use_cache=True,
                **{cache_kw: past},
            )
    return [tok.decode(r[: -len(sep)] if r[-len(sep) :] == sep else r) for r in replies]


def run_lm(cell: Any, ctx: Any, data: Any, fmt: Any, s: Any) -> dict[str, float]:
    """Metrics of one dialogue cell on a pretrained causal LM."""
    import torch

    from harness.models import lm_backbones, lm_store
    from harness.models.finetune import optimizer
    from harness.models.lm_cost import charge_step
    from harness.models.lm_lora import make_trainable, parse_train_layers
    from harness.models.lm_states import to_device
    from harness.tracks.dialogue.format import distinct_n

    lora, depth = parse_train_layers(s.train_layers)
    weights = lm_store.weights_id(s.backbone)
    if ctx.device != "cpu" or ctx.precision != "fp32":
        weights += f"@{str(ctx.device).split(':')[0]}-{ctx.precision}"
    model, tok = lm_backbones.load_backbone(s.backbone, scale=cell.scale)
    model.to(ctx.device)
    layer = model.config.num_hidden_layers - depth
    markers = fmt.kind == "cdial" or fmt.segments
    train_enc = [encode(tok, d, markers, s.ctx) for d in data.train]
    valid_enc = [encode(tok, d, markers, s.ctx) for d in data.valid]
    pad = tok.pad_token_id if tok.pad_token_id is not None else train_enc[0].ids[0]

    def states_of(enc: list[Encoded]) -> list[Any]:  # built on the model's device, stored on the CPU
        built = lm_store.shared_lower_states(weights, model, [e.ids for e in enc], layer, batch_size=16, pad_id=pad)
        return to_device(built, ctx.device)

    train_states, valid_states = states_of(train_enc), states_of(valid_enc)
    train_ids, valid_ids = [e.ids for e in train_enc], [e.ids for e in valid_enc]
    train = training_samples(fmt.kind, train_enc)
    score = scoring_samples(valid_enc)
    top, n_params = make_trainable(model, layer, lora, ctx.seed("init"))
    batches = batch_order(train, s.batch_size, s.train_tokens, ctx.generator("data"))
    opt, sched = optimizer(top.parameters(), s.lr, len(batches))
    tokens = supervised = 0
    every = s.train_tokens / s.eval_points
    next_eval, to_target, losses = every, math.nan, []
    top.train()
    for step, idx in enumerate(batches, 1):
        batch = [train[i] for i in idx]
        charge_step()
        with ctx.train_timer():
            total, count = nll_sum(top, train_states, batch, train_ids)
            loss = total / max(count, 1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            opt.step()
            sched.step()
        losses.append(loss.detach())
        tokens += sum(b.length for b in batch)
        supervised += count
        ctx.samples_seen += len(batch)
        if tokens >= next_eval or step == len(batches):
            next_eval += every
            values = torch.stack(losses).float().cpu().tolist()  # read once per evaluation, never per step
            for k, v in enumerate(values):
                ctx.check_finite(v, "train loss", step - len(values) + k + 1)
            losses = []
            ppl = math.exp(response_nll(top, valid_states, score, valid_ids))
            ctx.log("train_loss", tokens, values[-1])
            ctx.log("valid_ppl", tokens, ppl)
            ctx.remember(response_ppl=ppl, tokens=float(tokens), steps=float(step))
            if math.isnan(to_target) and ppl <= s.target_ppl:
                to_target = float(tokens)
    nll = response_nll(top, valid_states, score, valid_ids)
    contexts = [d[0] for d in data.valid][: s.replies or None]
    replies = sample_replies(model, tok, contexts, markers, s, ctx)
    out = {
        "response_nll": nll,
        "response_ppl": math.exp(nll),
        "distinct_1": distinct_n(replies, 1),
        "distinct_2": distinct_n(replies, 2),
        "supervised_tokens": float(supervised),
        "tokens": float(tokens),
        "steps": float(len(batches)),
        "supervised_share": supervised / max(tokens, 1),
        "scored_turns": float(sum(len(e.spans) - 1 for e in valid_enc)),
        "target_tokens": float(sum(len(x.targets) for x in score)),
        "trained_parameters": float(n_params),
    }
    if not math.isnan(to_target):
        out["tokens_to_target"] = to_target
        out["target_share"] = to_target / s.train_tokens
    return out
