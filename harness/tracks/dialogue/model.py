"""The tiny GPT-2 of the dialogue track: building it, batching samples, scoring and sampling replies."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from harness.tracks.dialogue.format import PAD, SEP, SPECIALS, DialogueFormat

if TYPE_CHECKING:
    from harness.tracks.dialogue.settings import DialogueSettings


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


def collate(batch: list[Any], device: Any = "cpu") -> tuple[Any, Any, Any]:
    """Right-padded (ids, types, mask) tensors on ``device``; padding is never a target."""
    import torch

    n = max(len(b.ids) for b in batch)
    ids = torch.full((len(batch), n), PAD, dtype=torch.long)
    types = torch.full((len(batch), n), PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.float32)
    for i, b in enumerate(batch):
        ids[i, : len(b.ids)] = torch.tensor(b.ids)
        types[i, : len(b.ids)] = torch.tensor(b.types)
        mask[i, : len(b.ids)] = torch.tensor(b.mask, dtype=torch.float32)
    return ids.to(device), types.to(device), mask.to(device)


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

    from harness.engine.context import device_of

    model.eval()
    total = count = 0.0
    with torch.no_grad():
        for k in range(0, len(samples), batch):
            ids, types, mask = collate(samples[k : k + batch], device_of(model))
            total += float(nll(model, ids, types, mask).sum())
            count += float(mask[:, 1:].sum())
    model.train()
    return total / count


def sample_replies(
    model: Any, fmt: DialogueFormat, vocab: Any, dialogues: list[list[str]], s: DialogueSettings, ctx: Any
) -> list[str]:
    """Top-k sampled replies to the first turn of held-out dialogues (specials other than [SEP] banned)."""
    import torch

    from harness.engine.context import device_of
    from harness.tracks.dialogue.format import reply_prompt

    g = ctx.generator("sample")  # on the CPU: a GPU run draws the same replies from the same logits
    dev = device_of(model)
    contexts = [d[0] for d in dialogues][: s.replies or None]
    out = []
    model.eval()
    with torch.no_grad():
        for c in contexts:
            ids, types, reply_type = reply_prompt(fmt, vocab, c)
            ids, types = ids[-(s.ctx - s.reply_max_len) :], types[-(s.ctx - s.reply_max_len) :]
            ids_t, types_t = torch.tensor([ids], device=dev), torch.tensor([types], device=dev)
            res = model(input_ids=ids_t, token_type_ids=types_t, use_cache=True)
            past, logits = res.past_key_values, res.logits[0, -1]
            reply: list[int] = []
            for _ in range(s.reply_max_len):
                logits = logits.clone()
                logits[[i for i in range(len(SPECIALS)) if i != SEP]] = -math.inf
                top = torch.topk(logits, s.top_k)
                probs = torch.softmax(top.values.float(), 0).cpu()
                nxt = int(top.indices.cpu()[torch.multinomial(probs, 1, generator=g)])
                if nxt == SEP:
                    break
                reply.append(nxt)
                res = model(
                    input_ids=torch.tensor([[nxt]], device=dev),
                    token_type_ids=torch.tensor([[reply_type]], device=dev),
                    past_key_values=past,
                    use_cache=True,
                )
                past, logits = res.past_key_values, res.logits[0, -1]
            out.append(vocab.decode(reply))
    model.train()
    return out
