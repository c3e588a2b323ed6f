"""The dialogue track: Su's whole-dialogue LM format vs CDial-GPT's history -> response format.

Protocol: the same tiny GPT-2 (transformers, random init, character vocabulary of the training
dialogues) trained on the same dialogues for the same number of processed tokens (equal compute);
only the sample format differs (see ``dialogue_format``). Metrics on held-out dialogues: response
perplexity of every turn from the second given its history (identical target tokens for both
formats), distinct-1/2 of sampled replies (top-k = 5, at most 32 characters), and the number of
processed tokens until the held-out perplexity first reaches ``target_ppl``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.claims import Claim, paired_better
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.dialogue_format import PAD, SEP, SPECIALS, DialogueFormat


@dataclass
class DialogueSettings:
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    ctx: int = 128
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.01
    train_tokens: int = 150_000
    eval_points: int = 10
    target_ppl: float = 250.0  # reached mid-run on chatterbot-zh at the quick budget (measured)
    top_k: int = 5
    reply_max_len: int = 32
    replies: int = 0  # contexts to sample replies for (0 = every held-out dialogue)


@track("dialogue", version=1)
class DialogueTrack(Track):
    """Multi-turn chit-chat: one LM over the dialogue (Su 2020) vs last-response samples (CDial-GPT)."""

    primary = "response_ppl"
    metrics = (
        Metric("response_ppl", False, "held-out response PPL", ".2f"),
        Metric("response_nll", False, "held-out response NLL (nats/char)"),
        Metric("tokens_to_target", False, "tokens to target PPL", ".0f"),
        Metric("distinct_1", True, "distinct-1"),
        Metric("distinct_2", True, "distinct-2"),
        Metric("supervised_tokens", True, "loss-bearing tokens seen", ".0f"),
        Metric("tokens", True, "tokens processed", ".0f"),
        Metric("steps", False, "optimizer steps", ".0f"),
    )
    secondary = ("tokens_to_target", "distinct_1", "distinct_2", "supervised_tokens")
    Settings = DialogueSettings
    settings_bounds = {
        "layers": (1, None),
        "hidden": (4, None),
        "heads": (1, None),
        "ctx": (8, 1024),
        "batch_size": (1, None),
        "lr": (1e-6, 1.0),
        "weight_decay": (0.0, 1.0),
        "train_tokens": (1, None),
        "eval_points": (1, None),
        "target_ppl": (1.0, None),
        "top_k": (1, None),
        "reply_max_len": (1, 512),
        "replies": (0, None),
    }

    def cost(self, cell: Any) -> float:
        s = DialogueSettings(**cell.settings)
        flops = 6 * s.train_tokens * (12 * s.layers * s.hidden**2 + 2000 * s.hidden)
        return 5.0 + flops / 2e9

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import torch

        from harness.tracks.dialogue_format import CharVocab, scoring_samples, training_samples

        s: DialogueSettings = self.settings(cell)
        fmt: DialogueFormat = self.method_fn(cell)()
        data = self.load_data(cell)
        vocab = CharVocab(data.train)
        train = training_samples(fmt, vocab, data.train, s.ctx)
        score = scoring_samples(fmt, vocab, data.valid, s.ctx)
        torch.manual_seed(ctx.seed("init"))
        model = make_gpt(len(vocab), s)
        opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        gen = ctx.generator("data")
        tokens = supervised = steps = 0
        next_eval = s.train_tokens / s.eval_points
        to_target = math.nan
        order: list[int] = []
        while tokens < s.train_tokens:
            if len(order) < s.batch_size:
                order += torch.randperm(len(train), generator=gen).tolist()
            batch = [train[i] for i in order[: s.batch_size]]
            del order[: s.batch_size]
            ids, types, mask = collate(batch)
            frac = min(tokens / s.train_tokens, 1.0)
            for group in opt.param_groups:
                group["lr"] = s.lr * min(1.0, (steps + 1) / 20) * (1.0 - 0.9 * frac)
            with ctx.train_timer():
                loss = nll(model, ids, types, mask).sum() / mask[:, 1:].sum()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            value = ctx.check_finite(loss.item(), "train loss", steps)
            steps += 1
            tokens += int((ids != PAD).sum())
            supervised += int(mask[:, 1:].sum())
            ctx.samples_seen += len(batch)
            if tokens >= next_eval or tokens >= s.train_tokens:
                next_eval += s.train_tokens / s.eval_points
                ppl = math.exp(score_nll(model, score))
                ctx.log("train_loss", tokens, value)
                ctx.log("valid_ppl", tokens, ppl)
                ctx.remember(response_ppl=ppl, tokens=float(tokens), steps=float(steps))
                if math.isnan(to_target) and ppl <= s.target_ppl:
                    to_target = float(tokens)
        out = {"response_nll": score_nll(model, score)}
        out["response_ppl"] = math.exp(out["response_nll"])
        replies = sample_replies(model, fmt, vocab, data.valid, s, ctx)
        from harness.tracks.dialogue_format import distinct_n

        out.update(
            distinct_1=distinct_n(replies, 1),
            distinct_2=distinct_n(replies, 2),
            supervised_tokens=float(supervised),
            tokens=float(tokens),
            steps=float(steps),
            vocab_size=float(len(vocab)),
            scored_turns=float(len(score)),
        )
        if not math.isnan(to_target):
            out["tokens_to_target"] = to_target
        return out

    def claims(self) -> list[Claim]:
        return [
            paired_better(
                "su-lm",
                "cdial",
                "response_ppl",
                text="at equal compute, Su's whole-dialogue LM reaches a lower held-out response PPL",
                published="Su: more training-efficient (no number); quality 'no significant difference'",
            ),
            paired_better(
                "su-lm",
                "cdial",
                "tokens_to_target",
                text="Su's format reaches the target PPL with fewer processed tokens",
            ),
            paired_better(
                "su-lm",
                "cdial",
                "supervised_tokens",
                text="Su's format supervises more tokens per processed token (every turn is a target)",
            ),
            paired_better(
                "su-lm",
                "su-lm-noseg",
                "response_ppl",
                text="speaker segment ids help Su's format (lower response PPL than without them)",
            ),
            paired_better(
                "su-lm",
                "cdial",
                "distinct_2",
                text="sampled replies are at least as diverse (distinct-2) with Su's format",
                published="CDial-GPT LCCC-base Dist-2 12.68 on STC (not comparable in scale)",
            ),
        ]

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        fig = metric_panels(table, ("response_ppl", "tokens_to_target", "distinct_2"))
        return (
            [
                (
                    "Held-out response PPL, tokens to the target PPL and distinct-2 per format "
                    "(mean and std over seeds)",
                    fig,
                )
            ]
            if fig
            else []
        )


def metric_panels(table: Any, metrics: tuple[str, ...]) -> Any | None:
    """One panel per metric: a bar per (dataset, method) with the std over seeds."""
    if not len(table) or "m.response_ppl" not in table:
        return None
    from harness.report.plots import _plt

    t = table[table["status"] == "ok"]
    groups = sorted(t.groupby(["dataset", "method"]), key=lambda kv: kv[0])
    if not groups:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.0 * len(metrics), 0.5 * len(groups) + 1.5), squeeze=False)
    labels = [f"{ds} · {m}" for (ds, m), _ in groups]
    for ax, metric in zip(axes[0], metrics):
        col = f"m.{metric}"
        vals = [d[col].dropna() if col in d else d["seed"].iloc[:0] for _, d in groups]
        ax.barh(
            range(len(groups)),
            [v.mean() if len(v) else 0 for v in vals],
            xerr=[v.std() if len(v) > 1 else 0 for v in vals],
            capsize=3,
        )
        ax.set_yticks(range(len(groups)))
        ax.set_yticklabels(labels if ax is axes[0][0] else [""] * len(groups), fontsize=6)
        ax.set_title(metric, fontsize=9)
    fig.tight_layout()
    return fig


def make_gpt(vocab_size: int, s: DialogueSettings) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_positions=s.ctx,
        n_embd=s.hidden,
        n_layer=s.layers,
        n_head=s.heads,
        bos_token_id=1,
        eos_token_id=SEP,
        pad_token_id=PAD,
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
    )
    return GPT2LMHeadModel(cfg)


def collate(batch: list[Any]) -> tuple[Any, Any, Any]:
    """Right-padded (ids, types, mask) tensors; padding is never a target."""
    import torch

    n = max(len(b.ids) for b in batch)
    ids = torch.full((len(batch), n), PAD, dtype=torch.long)
    types = torch.full((len(batch), n), PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.float32)
    for i, b in enumerate(batch):
        ids[i, : len(b.ids)] = torch.tensor(b.ids)
        types[i, : len(b.ids)] = torch.tensor(b.types)
        mask[i, : len(b.ids)] = torch.tensor(b.mask, dtype=torch.float32)
    return ids, types, mask


def nll(model: Any, ids: Any, types: Any, mask: Any) -> Any:
    """Per-token NLL of the targets (position p predicts token p from tokens < p), zero elsewhere."""
    import torch.nn.functional as F

    attn = (ids != PAD).long()
    logits = model(input_ids=ids, token_type_ids=types, attention_mask=attn).logits[:, :-1]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    return ce.view(ids.shape[0], -1) * mask[:, 1:]


def score_nll(model: Any, samples: list[Any], batch: int = 64) -> float:
    """Mean NLL per target token over the scoring samples (eval mode, no dropout)."""
    import torch

    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for k in range(0, len(samples), batch):
            ids, types, mask = collate(samples[k : k + batch])
            total += float(nll(model, ids, types, mask).sum())
            count += float(mask[:, 1:].sum())
    model.train()
    return total / count


def sample_replies(
    model: Any, fmt: DialogueFormat, vocab: Any, dialogues: list[list[str]], s: DialogueSettings, ctx: Any
) -> list[str]:
    """Top-k sampled replies to the first turn of held-out dialogues (specials other than [SEP] banned)."""
    import torch

    from harness.tracks.dialogue_format import reply_prompt

    g = ctx.generator("sample")
    contexts = [d[0] for d in dialogues][: s.replies or None]
    out = []
    model.eval()
    with torch.no_grad():
        for c in contexts:
            ids, types, reply_type = reply_prompt(fmt, vocab, c)
            ids, types = ids[-(s.ctx - s.reply_max_len) :], types[-(s.ctx - s.reply_max_len) :]
            res = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]), use_cache=True)
            past, logits = res.past_key_values, res.logits[0, -1]
            reply: list[int] = []
            for _ in range(s.reply_max_len):
                logits = logits.clone()
                logits[[i for i in range(len(SPECIALS)) if i != SEP]] = -math.inf
                top = torch.topk(logits, s.top_k)
                nxt = int(top.indices[torch.multinomial(torch.softmax(top.values, 0), 1, generator=g)])
                if nxt == SEP:
                    break
                reply.append(nxt)
                res = model(
                    input_ids=torch.tensor([[nxt]]),
                    token_type_ids=torch.tensor([[reply_type]]),
                    past_key_values=past,
                    use_cache=True,
                )
                past, logits = res.past_key_values, res.logits[0, -1]
            out.append(vocab.decode(reply))
    model.train()
    return out
