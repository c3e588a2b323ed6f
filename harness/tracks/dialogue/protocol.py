"""The dialogue track: Su's whole-dialogue LM format vs CDial-GPT's history -> response format.

Protocol: the same model trained on the same dialogues for the same number of processed tokens (equal
compute); only the sample format differs (``format.DialogueFormat``). Two backbones (setting
``backbone``): ``gpt``, a tiny GPT-2 (transformers, random init, character vocabulary of the training
dialogues, speaker segment ids), and a pretrained causal LM (e.g. ``qwen2.5-0.5b``: LoRA on its top
layers over cached lower-layer states, speakers as text markers; ``lm.py``). Metrics on held-out
dialogues: response perplexity of every turn from the second given its history (identical target
tokens for every format of a backbone), distinct-1/2 of sampled replies (top-k, at most
``reply_max_len`` tokens), the processed tokens until the held-out perplexity first reaches
``target_ppl`` and the share of processed tokens that carried a loss.

Version 2 (issue 29): the pretrained-LM backbone, the ``supervised_share`` and ``target_share`` metrics
(the claims read shares of the budget, comparable across budgets), losses read at evaluation points only.
"""

from __future__ import annotations

import math
from typing import Any

from harness.claims import Claim
from harness.registry import track
from harness.track import Metric, Track
from harness.tracks.dialogue.format import DialogueFormat
from harness.tracks.dialogue.model import collate, make_gpt, nll, sample_replies, score_nll
from harness.tracks.dialogue.settings import DialogueSettings


@track("dialogue", version=2)
class DialogueTrack(Track):
    """Multi-turn chit-chat: one LM over the dialogue (Su 2020) vs last-response samples (CDial-GPT)."""

    primary = "response_ppl"
    # GPT-2 dropout draws from the GPU's generator; perplexity is compared relative to the CPU's
    device_tolerance = (0.0, 0.1)
    recipe_type = DialogueFormat
    metrics = (
        Metric("response_ppl", False, "held-out response PPL", ".2f"),
        Metric("response_nll", False, "held-out response NLL (nats per target token; the tiny GPT's are characters)"),
        Metric("tokens_to_target", False, "tokens to target PPL", ".0f"),
        Metric("distinct_1", True, "distinct-1"),
        Metric("distinct_2", True, "distinct-2"),
        Metric("supervised_tokens", True, "loss-bearing tokens seen", ".0f"),
        Metric("supervised_share", True, "share of processed tokens that carried a loss", ".3f"),
        Metric("target_share", False, "share of the token budget spent before the target PPL", ".3f"),
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

    def check_settings(self, settings: Any) -> None:
        """A pretrained backbone must be a causal LM whose top layers the setting can train: one line
        before any cell runs otherwise."""
        from harness.tracks.dialogue.budget import check_backbone

        check_backbone(settings)

    def cost(self, cell: Any) -> float:
        from harness.tracks.dialogue.budget import cell_cost

        return cell_cost(self.settings(cell), self.recipe(cell), cell)

    def shared_cost(self, cells: list[Any]) -> dict[str, float]:
        from harness.tracks.dialogue.budget import shared_cost

        return shared_cost(self, cells)

    def memory(self, cell: Any) -> int:
        from harness.tracks.dialogue.budget import cell_memory

        return cell_memory(self.settings(cell))

    def provenance_notes(self, settings: list[dict[str, Any]]) -> list[str]:
        from harness.models.lm_backbones import describe_backbone

        specs = sorted({str(s.get("backbone", "gpt")) for s in settings} - {"gpt"})
        return [f"Backbone {describe_backbone(b)}" for b in specs]

    def run(self, cell: Any, ctx: Any) -> dict[str, float]:
        import torch

        from harness.tracks.dialogue.format import CharVocab, scoring_samples, training_samples

        s: DialogueSettings = self.settings(cell)
        fmt: DialogueFormat = self.recipe(cell)
        data = self.load_data(cell)
        if s.backbone != "gpt":
            from harness.tracks.dialogue.lm import run_lm

            return run_lm(cell, ctx, data, fmt, s)
        vocab = CharVocab(data.train)
        train = training_samples(fmt, vocab, data.train, s.ctx)
        score = scoring_samples(fmt, vocab, data.valid, s.ctx)
        torch.manual_seed(ctx.seed("init"))
        model = make_gpt(len(vocab), s).to(ctx.device)  # initialised on the CPU: the same on every device
        opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        gen = ctx.generator("data")
        tokens = supervised = steps = 0
        next_eval = s.train_tokens / s.eval_points
        to_target = math.nan
        order: list[int] = []
        losses: list[Any] = []
        while tokens < s.train_tokens:
            if len(order) < s.batch_size:
                order += torch.randperm(len(train), generator=gen).tolist()
            batch = [train[i] for i in order[: s.batch_size]]
            del order[: s.batch_size]
            frac = min(tokens / s.train_tokens, 1.0)
            for group in opt.param_groups:
                group["lr"] = s.lr * min(1.0, (steps + 1) / 20) * (1.0 - 0.9 * frac)
            ids, types, mask = collate(batch, ctx.device)
            with ctx.train_timer():
                loss = nll(model, ids, types, mask).sum() / mask[:, 1:].sum()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
            losses.append(loss.detach())  # read at the evaluation points, never per step
            steps += 1
            tokens += sum(len(b.ids) for b in batch)  # counted on the host: no device sync
            supervised += sum(sum(b.mask[1:]) for b in batch)
            ctx.samples_seen += len(batch)
            if tokens >= next_eval or tokens >= s.train_tokens:
                next_eval += s.train_tokens / s.eval_points
                values = torch.stack(losses).float().cpu().tolist()
                for k, v in enumerate(values):
                    ctx.check_finite(v, "train loss", steps - len(values) + k)
                losses = []
                ppl = math.exp(score_nll(model, score))
                ctx.log("train_loss", tokens, values[-1])
                ctx.log("valid_ppl", tokens, ppl)
                ctx.remember(response_ppl=ppl, tokens=float(tokens), steps=float(steps))
                if math.isnan(to_target) and ppl <= s.target_ppl:
                    to_target = float(tokens)
        out = {"response_nll": score_nll(model, score)}
        out["response_ppl"] = math.exp(out["response_nll"])
        replies = sample_replies(model, fmt, vocab, data.valid, s, ctx)
        from harness.tracks.dialogue.format import distinct_n

        out.update(
            distinct_1=distinct_n(replies, 1),
            distinct_2=distinct_n(replies, 2),
            supervised_tokens=float(supervised),
            supervised_share=supervised / max(tokens, 1),
            tokens=float(tokens),
            steps=float(steps),
            vocab_size=float(len(vocab)),
            scored_turns=float(len(score)),
        )
        if not math.isnan(to_target):
            out["tokens_to_target"] = to_target
            out["target_share"] = to_target / s.train_tokens
        return out

    def claims(self) -> list[Claim]:
        from harness.tracks.dialogue.claims import track_claims

        return track_claims()

    def figures(self, table: Any) -> list[tuple[str, Any]]:
        from harness.tracks.dialogue.claims import metric_panels

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
