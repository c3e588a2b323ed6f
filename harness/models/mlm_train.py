"""The masked-LM training loop (resumable, deterministic) and held-out bits per character.

Why resumable: a pretraining build takes minutes; a killed worker must not start it over. Batch
order depends on (seed, epoch) and masks on (seed, step); dropout draws come from a global RNG
whose state is checkpointed with the weights, so a resumed run ends with exactly the weights of an
uninterrupted one.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes
from harness.errors import HarnessError
from harness.models.mlm_batches import batch_plan, pad_batch, step_generator
from harness.models.zh_tokenizers import Vocab

# Test hook: raise _Interrupted right after the checkpoint at this step (simulates a killed build).
_INTERRUPT_AT: int | None = None


class _Interrupted(RuntimeError):
    pass


@dataclass(frozen=True)
class MLMTrainConfig:
    """How one MLM training run goes: steps, batches, optimiser schedule, seed, checkpoints.

    ``keep_at``: steps whose weights are saved as ``step<N>.pt`` beside the checkpoint (an early
    model to compare against the final one). ``desc`` names the run on the progress bar and in
    errors."""

    steps: int
    batch_size: int
    lr: float
    warmup: int
    max_len: int
    seed: int
    ckpt_every: int
    desc: str
    keep_at: tuple[int, ...] = ()


def linear_warmup_decay(warmup: int, total: int):
    """LambdaLR factor: linear warmup over ``warmup`` steps, then linear decay to 0 at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def save_state(path: Path, state: dict) -> None:
    """torch.save ``state`` to ``path`` atomically (a reader never sees half a file)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def train_mlm(model: Any, vocab: Vocab, seqs: list[list[int]], workdir: Path, cfg: MLMTrainConfig) -> dict[str, Any]:
    """MLM-train ``model`` in place for ``cfg.steps`` steps, resuming from ``workdir/ckpt.pt``.

    State dicts at the steps in ``cfg.keep_at`` are saved as ``workdir/step<N>.pt``.
    Returns the loss curve (mean per ``ckpt_every`` window) and timing.
    """
    import time

    import torch

    from harness.models.tinybert import mask_tokens, mlm_loss
    from harness.models.zh_tokenizers import MASK

    if cfg.steps <= 0:
        return {"curve": [], "seconds": 0.0, "resumed_from": 0}
    if not seqs:
        raise HarnessError("MLM pretraining corpus is empty")
    mask_id = vocab.index()[MASK]
    lengths = [len(s) for s in seqs]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(cfg.warmup, cfg.steps))
    ckpt = workdir / "ckpt.pt"
    start, curve, seconds = 0, [], 0.0
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(cfg.seed)  # built on the CPU: its generator only
        if ckpt.exists():
            try:
                state = torch.load(ckpt, weights_only=False)
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["opt"])
                sched.load_state_dict(state["sched"])
                torch.set_rng_state(state["rng"])
                start, curve, seconds = state["step"], state["curve"], state["seconds"]
            except Exception:  # an unreadable checkpoint restarts the build from scratch
                start, curve, seconds = 0, [], 0.0
        resumed_from = start
        per_epoch = math.ceil(len(seqs) / cfg.batch_size)
        bar = _progress(cfg.steps, start, cfg.desc)
        model.train()
        window: list[float] = []
        t0 = time.perf_counter()
        plan_epoch, plan = -1, []
        for step in range(start, cfg.steps):
            epoch, pos = divmod(step, per_epoch)
            if epoch != plan_epoch:
                plan_epoch, plan = epoch, batch_plan(lengths, cfg.batch_size, cfg.seed, epoch)
            ids, att, maskable = pad_batch([seqs[i] for i in plan[pos]], cfg.max_len)
            inp, labels = mask_tokens(ids, maskable, mask_id, len(vocab), step_generator(cfg.seed, step))
            loss = mlm_loss(model, inp, att, labels)
            value = loss.item()
            if not math.isfinite(value):
                raise HarnessError(f"MLM pretraining ({cfg.desc}) diverged at step {step}: loss {value}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            window.append(value)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}")
            done = step + 1
            if done in cfg.keep_at:
                save_state(workdir / f"step{done}.pt", model.state_dict())
            if done % cfg.ckpt_every == 0 or done == cfg.steps:
                curve.append([done, sum(window) / len(window)])
                window = []
                state = {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": done,
                    "curve": curve,
                    "seconds": seconds + time.perf_counter() - t0,
                }
                save_state(ckpt, state)
                if _INTERRUPT_AT is not None and done == _INTERRUPT_AT:
                    raise _Interrupted(f"test interruption after step {done}")
        seconds += time.perf_counter() - t0
        if bar is not None:
            bar.close()
    return {"curve": curve, "seconds": seconds, "resumed_from": resumed_from}


def _progress(total: int, initial: int, desc: str) -> Any:
    """A tqdm bar on stderr when it is a terminal; None otherwise (workers, CI logs)."""
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=desc, leave=False, file=sys.stderr)


def mlm_bits_per_char(
    model: Any,
    vocab: Vocab,
    texts: list[str],
    seed: int = 0,
    max_len: int = 128,
    batch_size: int = 64,
    rate: float = 0.15,
) -> float:
    """Held-out MLM cross-entropy in bits per character of the masked tokens.

    ``rate`` of the tokens of each text (at least one) are replaced by [MASK]; the summed negative
    log-likelihood of the true tokens (bits) is divided by the number of characters those tokens
    spell, so a word-level and a char-level model are on the same scale. Deterministic in ``seed``.
    """
    import torch

    from harness.models.tinybert import IGNORE, mask_tokens, mlm_loss
    from harness.models.zh_tokenizers import MASK, encode_ids, token_char_lengths

    index = vocab.index()
    char_len = torch.tensor(token_char_lengths(vocab), dtype=torch.float64)
    seqs = encode_ids(vocab, texts)
    g = torch.Generator()
    g.manual_seed(seed)
    was_training = model.training
    model.eval()
    nll, chars = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(seqs), batch_size):
            ids, att, maskable = pad_batch(seqs[i : i + batch_size], max_len)
            if not bool(maskable.any()):
                continue
            _, labels = mask_tokens(ids, maskable, index[MASK], len(vocab), g, rate=rate)
            masked = torch.where(labels != IGNORE, torch.full_like(ids, index[MASK]), ids)
            nll += float(mlm_loss(model, masked, att, labels, reduction="sum"))
            chars += float(char_len[labels[labels != IGNORE]].sum())
    model.train(was_training)
    if chars == 0:
        return float("nan")
    return nll / math.log(2) / chars
