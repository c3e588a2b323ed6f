"""MLM pretraining of tiny Chinese BERTs as cached artifacts (shared by the tokenization and fewshot tracks).

Why an artifact: pretraining is the expensive part of every cell of these tracks, and it does not
depend on the cell (method arm aside). Each model is built once per key (corpus content, tokenizer
recipe, model config, steps, batch, lr, seed), under a file lock so two workers never build the same
one, with a progress bar (on a terminal) and resumable checkpoints: a killed build continues from
its last checkpoint and ends with exactly the weights an uninterrupted build would have.

Two levels:

* ``pretrained_char_mlm(scale)`` -> (model, tokenizer): the character-level MLM, 15% masking
  (80% [MASK] / 10% random / 10% kept) on the corpus of ``harness.data.chinese``.
* ``continued_mlm(cfg, ContinueConfig(arm=...))``: from that model, continue MLM for
  ``steps`` more steps with either the same char vocabulary (``arm="char"``: equal compute for the
  baseline), or the WoBERT word vocabulary with each new word row initialised as the mean of its
  characters' rows (``"mean"``, Su 2020) or randomly (``"random"``, the ablation). The checkpoint
  after ``early_steps`` is kept too, to compare the inits early in continued pretraining.

Artifacts live in ``<cache>/mlm/<key>/`` (``model.pt``, ``early.pt``, ``vocab.json``, ``info.json``
written last). A directory without ``info.json`` is an unfinished build.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import artifact_lock, atomic_write_bytes, cache_dir, cached_pickle
from harness.errors import HarnessError
from harness.models.tinybert import TinyBertConfig
from harness.models.zh_tokenizers import Vocab

ARTIFACT_VERSION = 1
ARMS = ("char", "mean", "random")

# Test hook: raise _Interrupted right after the checkpoint at this step (simulates a killed build).
_INTERRUPT_AT: int | None = None


class _Interrupted(RuntimeError):
    pass


@dataclass(frozen=True)
class PretrainConfig:
    """Character-MLM pretraining recipe. ``corpus_chars`` 0 = the whole corpus (~3.4M chars)."""

    model: TinyBertConfig = field(default_factory=TinyBertConfig)
    corpus_chars: int = 0
    chunk_chars: int = 126
    char_min_count: int = 3
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 100
    max_len: int = 128
    seed: int = 0
    ckpt_every: int = 100
    # Paper scale: a hub Chinese BERT (id or local folder) imported as the char MLM instead of
    # pretraining one (``model`` must then be ``hub_bert.hub_config`` of it; steps are unused).
    hub_model: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not self.hub_model:  # keep the keys of every artifact built before the field existed
            d.pop("hub_model")
        return d


@dataclass(frozen=True)
class ContinueConfig:
    """Continued MLM from the char model: ``arm`` in ``ARMS``; word vocab params for the word arms."""

    arm: str = "mean"
    num_words: int = 5000
    word_min_count: int = 5
    steps: int = 300
    lr: float = 5e-4
    warmup: int = 30
    early_steps: int = 30

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.arm == "char":  # word-vocab params do not change a char arm: keep its key stable
            d.pop("num_words")
            d.pop("word_min_count")
        return d


PRESETS: dict[str, PretrainConfig] = {
    # Seconds: a 1-layer, 32-wide model on a 20k-character slice (tests, smoke suite).
    "smoke": PretrainConfig(
        TinyBertConfig(layers=1, hidden=32, heads=2, max_positions=520),
        corpus_chars=20_000,
        char_min_count=1,
        steps=12,
        batch_size=8,
        warmup=2,
        ckpt_every=4,
    ),
    # Minutes on one CPU core: sized from measured step times (~0.3-0.5 s/step on a loaded core).
    "quick": PretrainConfig(),
}


def preset(scale: str | PretrainConfig) -> PretrainConfig:
    if isinstance(scale, PretrainConfig):
        return scale
    if scale not in PRESETS:
        raise HarnessError(f"no MLM pretraining preset for scale {scale!r} (known: {', '.join(PRESETS)})")
    return PRESETS[scale]


# --- corpus and vocabularies ---------------------------------------------------------------------
def corpus(cfg: PretrainConfig) -> list[str]:
    from harness.data.chinese import corpus_slice

    return corpus_slice(cfg.corpus_chars, cfg.chunk_chars)


def _key(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _corpus_key(cfg: PretrainConfig) -> dict[str, Any]:
    return {"corpus": _corpus_digest(cfg.corpus_chars, cfg.chunk_chars), "chunk": cfg.chunk_chars}


@functools.lru_cache(maxsize=8)
def _corpus_digest(corpus_chars: int, chunk_chars: int) -> str:
    """Content hash of a corpus slice; cached per process because every cell asks for the keys of
    its artifacts and hashing the ~3.4M-character corpus costs ~0.4 s each time."""
    from harness.data.chinese import corpus_slice, texts_digest

    return texts_digest(corpus_slice(corpus_chars, chunk_chars))


def char_vocab(cfg: PretrainConfig) -> Vocab:
    """The char vocabulary of ``cfg``'s corpus (cached artifact), or of its hub model."""
    from harness.models.zh_tokenizers import build_char_vocab

    if cfg.hub_model:
        from harness.models.hub_bert import char_vocab_from_hub, hub_tokens

        return cached_pickle(
            "zh-vocab",
            "hub-" + _key({"v": ARTIFACT_VERSION, "hub": cfg.hub_model}),
            lambda: char_vocab_from_hub(hub_tokens(cfg.hub_model))[0],
        )
    key = _key({"v": ARTIFACT_VERSION, **_corpus_key(cfg), "min_count": cfg.char_min_count})
    return cached_pickle("zh-vocab", f"char-{key}", lambda: build_char_vocab(corpus(cfg), cfg.char_min_count))


def word_vocab(cfg: PretrainConfig, num_words: int, min_count: int) -> Vocab:
    """The WoBERT vocabulary: char vocab + top ``num_words`` corpus words (cached artifact)."""
    from harness.models.zh_tokenizers import build_word_vocab

    key = _key(
        {
            "v": ARTIFACT_VERSION,
            **_corpus_key(cfg),
            "min_count": cfg.char_min_count,
            "num_words": num_words,
            "word_min_count": min_count,
            "segmenter": "jieba-hmm-off",
        }
    )
    return cached_pickle(
        "zh-vocab", f"word-{key}", lambda: build_word_vocab(char_vocab(cfg), corpus(cfg), num_words, min_count)
    )


# --- batching ------------------------------------------------------------------------------------
def pad_batch(seqs: list[list[int]], max_len: int, cls_id: int = 2, sep_id: int = 3, pad_id: int = 0):
    """[CLS] ids [SEP], truncated to ``max_len`` tokens, right-padded to the longest row.

    Returns (input_ids, attention_mask, maskable) where ``maskable`` is False at specials and pads.
    An empty sequence becomes ``[CLS] [SEP]``.
    """

    body = max(0, max_len - 2)
    return pad_rows([[cls_id] + list(s[:body]) + [sep_id] for s in seqs], pad_id)


def pad_rows(rows: list[list[int]], pad_id: int = 0):
    """Right-pad full rows (already with [CLS]/[SEP]); returns (ids, attention mask, maskable) where
    maskable is False at [CLS], [SEP] and padding."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    maskable = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        maskable[i, 1 : len(r) - 1] = True
    return ids, (ids != pad_id).long(), maskable


def batch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch of batches: shuffled, length-bucketed inside groups of 20 batches (less padding)."""
    import random

    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * 20
    batches = []
    for g in range(0, len(order), group):
        chunk = sorted(order[g : g + group], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _step_generator(seed: int, step: int):
    import torch

    g = torch.Generator()
    g.manual_seed((seed * 7_919 + step * 104_729 + 17) & 0x7FFFFFFF)
    return g


# --- evaluation ----------------------------------------------------------------------------------
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


# --- training loop -------------------------------------------------------------------------------
def linear_warmup_decay(warmup: int, total: int):
    """LambdaLR factor: linear warmup over ``warmup`` steps, then linear decay to 0 at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def train_mlm(
    model: Any,
    vocab: Vocab,
    seqs: list[list[int]],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup: int,
    max_len: int,
    seed: int,
    workdir: Path,
    ckpt_every: int,
    desc: str,
    keep_at: tuple[int, ...] = (),
) -> dict[str, Any]:
    """MLM-train ``model`` in place for ``steps`` steps, resuming from ``workdir/ckpt.pt``.

    Batch order depends on (seed, epoch) and masks on (seed, step); dropout draws come from a
    global RNG whose state is checkpointed, so a resumed run equals an uninterrupted one.
    State dicts at the steps in ``keep_at`` are saved as ``workdir/step<N>.pt``.
    Returns the loss curve (mean per ``ckpt_every`` window) and timing.
    """
    import io
    import time

    import torch

    from harness.models.tinybert import mask_tokens, mlm_loss
    from harness.models.zh_tokenizers import MASK

    if steps <= 0:
        return {"curve": [], "seconds": 0.0, "resumed_from": 0}
    if not seqs:
        raise HarnessError("MLM pretraining corpus is empty")
    mask_id = vocab.index()[MASK]
    lengths = [len(s) for s in seqs]
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup_decay(warmup, steps))
    ckpt = workdir / "ckpt.pt"
    start, curve, seconds = 0, [], 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
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
        per_epoch = math.ceil(len(seqs) / batch_size)
        bar = _progress(steps, start, desc)
        model.train()
        window: list[float] = []
        t0 = time.perf_counter()
        plan_epoch, plan = -1, []
        for step in range(start, steps):
            epoch, pos = divmod(step, per_epoch)
            if epoch != plan_epoch:
                plan_epoch, plan = epoch, batch_plan(lengths, batch_size, seed, epoch)
            batch = plan[pos]
            ids, att, maskable = pad_batch([seqs[i] for i in batch], max_len)
            inp, labels = mask_tokens(ids, maskable, mask_id, len(vocab), _step_generator(seed, step))
            loss = mlm_loss(model, inp, att, labels)
            value = loss.item()
            if not math.isfinite(value):
                raise HarnessError(f"MLM pretraining ({desc}) diverged at step {step}: loss {value}")
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
            if done in keep_at:
                _save(workdir / f"step{done}.pt", model.state_dict())
            if done % ckpt_every == 0 or done == steps:
                curve.append([done, sum(window) / len(window)])
                window = []
                seconds_now = seconds + time.perf_counter() - t0
                buf = io.BytesIO()
                torch.save(
                    {
                        "model": model.state_dict(),
                        "opt": opt.state_dict(),
                        "sched": sched.state_dict(),
                        "rng": torch.get_rng_state(),
                        "step": done,
                        "curve": curve,
                        "seconds": seconds_now,
                    },
                    buf,
                )
                atomic_write_bytes(ckpt, buf.getvalue())
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


def _save(path: Path, state: dict) -> None:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


# --- artifacts -----------------------------------------------------------------------------------
def _build_once(key: str, build: Any) -> Path:
    """Directory of the finished artifact ``mlm/<key>``, building it under a file lock if needed."""
    folder = cache_dir() / "mlm" / key
    done = folder / "info.json"
    if done.exists():
        return folder
    with artifact_lock("mlm", key):
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            info = build(folder)
            atomic_write_bytes(done, json.dumps(info, indent=1).encode())
    return folder


def _vocab_to_json(v: Vocab) -> bytes:
    return json.dumps(
        {"tokens": list(v.tokens), "n_chars": v.n_chars, "word_level": v.word_level}, ensure_ascii=False
    ).encode()


def _load_folder(folder: Path, cfg: TinyBertConfig, weights: str = "model.pt") -> tuple[Any, Vocab, dict]:
    import torch

    from harness.models.tinybert import make_mlm

    try:
        d = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        vocab = Vocab(tuple(d["tokens"]), int(d["n_chars"]), bool(d["word_level"]))
        info = json.loads((folder / "info.json").read_text(encoding="utf-8"))
        model = make_mlm(cfg, len(vocab))
        model.load_state_dict(torch.load(folder / weights, weights_only=True))
    except Exception as exc:
        raise _Corrupt(str(exc)) from exc
    model.eval()
    return model, vocab, info


class _Corrupt(Exception):
    pass


_LOADED: dict[tuple[str, str], tuple[Any, Vocab, dict]] = {}


def _load_cached(key: str, build: Any, cfg: TinyBertConfig, weights: str = "model.pt") -> tuple[Any, Vocab, dict]:
    """Load an artifact (built if missing; rebuilt once if its files are corrupt); per-process cache.

    Returns a private copy of the model, so callers may fine-tune it freely.
    """
    if (key, weights) not in _LOADED:
        folder = _build_once(key, build)
        try:
            loaded = _load_folder(folder, cfg, weights)
        except _Corrupt:
            with artifact_lock("mlm", key):
                shutil.rmtree(folder, ignore_errors=True)
            folder = _build_once(key, build)
            try:
                loaded = _load_folder(folder, cfg, weights)
            except _Corrupt as exc:
                raise HarnessError(f"MLM artifact {folder} is unreadable after a rebuild: {exc}") from None
        _LOADED[(key, weights)] = loaded
    model, vocab, info = _LOADED[(key, weights)]
    return copy.deepcopy(model), vocab, info


def char_mlm_key(cfg: PretrainConfig) -> str:
    return "char-" + _key(
        {"v": ARTIFACT_VERSION, **_corpus_key(cfg), "cfg": cfg.to_dict(), "tokenizer": "char-nfkc-lower"}
    )


def _build_char(cfg: PretrainConfig):
    if cfg.hub_model:
        return _import_hub(cfg)

    def build(folder: Path) -> dict[str, Any]:
        from harness.models.tinybert import make_mlm
        from harness.models.zh_tokenizers import encode_ids

        vocab = char_vocab(cfg)
        seqs = encode_ids(vocab, corpus(cfg))
        model = make_mlm(cfg.model, len(vocab), seed=cfg.seed)
        log = train_mlm(
            model,
            vocab,
            seqs,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            warmup=cfg.warmup,
            max_len=cfg.max_len,
            seed=cfg.seed,
            workdir=folder,
            ckpt_every=cfg.ckpt_every,
            desc="char MLM",
        )
        _save(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", _vocab_to_json(vocab))
        (folder / "ckpt.pt").unlink(missing_ok=True)
        return {"kind": "char", "config": cfg.to_dict(), "vocab_size": len(vocab), "corpus_texts": len(seqs), **log}

    return build


def _import_hub(cfg: PretrainConfig):
    def build(folder: Path) -> dict[str, Any]:
        from harness.models.hub_bert import import_hub_mlm

        model, vocab = import_hub_mlm(cfg.hub_model)
        if vocab != char_vocab(cfg):
            raise HarnessError(
                f"hub model {cfg.hub_model!r} changed while its vocabulary was cached; clear the zh-vocab cache"
            )
        _save(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", _vocab_to_json(vocab))
        return {"kind": "hub", "hub_model": cfg.hub_model, "config": cfg.to_dict(), "vocab_size": len(vocab)}

    return build


def pretrained_char_mlm(scale: str | PretrainConfig = "quick") -> tuple[Any, Any]:
    """The pretrained character MLM and its tokenizer for a scale preset (``smoke``/``quick``) or config.

    Built on first use (minutes at ``quick``), then loaded from the cache. The model is a
    transformers ``BertForMaskedLM`` (a private copy: fine-tune it freely); the tokenizer a
    ``PreTrainedTokenizerFast``. This is the entry point for other tracks (PET).
    """
    from harness.models.zh_tokenizers import make_tokenizer

    cfg = preset(scale)
    model, vocab, _ = _load_cached(char_mlm_key(cfg), _build_char(cfg), cfg.model)
    return model, make_tokenizer(vocab, cfg.model.max_positions - 2)


def init_word_model(char_model: Any, vocab: Vocab, mode: str, seed: int = 0) -> Any:
    """A word-vocabulary MLM from a char MLM: encoder and char rows copied; each word's embedding
    row (tied to the MLM output) and output bias is the mean of its characters' (``mode="mean"``)
    or freshly initialised (``"random"``: N(0, 0.02) rows, zero bias, as BERT initialises)."""
    import torch

    from harness.models.tinybert import TinyBertConfig, make_mlm
    from harness.models.zh_tokenizers import char_to_word_ids

    if mode not in ("mean", "random"):
        raise HarnessError(f"word-row init must be 'mean' or 'random', got {mode!r}")
    c = char_model.config
    cfg = TinyBertConfig(
        layers=c.num_hidden_layers,
        hidden=c.hidden_size,
        heads=c.num_attention_heads,
        ffn_mult=c.intermediate_size // c.hidden_size,
        max_positions=c.max_position_embeddings,
        dropout=c.hidden_dropout_prob,
    )
    n_chars = c.vocab_size
    if vocab.n_chars != n_chars:
        raise HarnessError(f"word vocab was built on a char vocab of {vocab.n_chars} tokens, model has {n_chars}")
    model = make_mlm(cfg, len(vocab), seed=seed)
    state = {
        k: v
        for k, v in char_model.state_dict().items()
        if "word_embeddings" not in k
        and k not in ("cls.predictions.bias", "cls.predictions.decoder.bias", "cls.predictions.decoder.weight")
    }
    missing = model.load_state_dict(state, strict=False)
    if missing.unexpected_keys:
        raise HarnessError(f"unexpected weights when copying the char model: {missing.unexpected_keys[:3]}")
    old_emb = char_model.bert.embeddings.word_embeddings.weight.detach()
    old_bias = char_model.cls.predictions.bias.detach()
    with torch.no_grad():
        emb = model.bert.embeddings.word_embeddings.weight
        bias = model.cls.predictions.bias
        emb[:n_chars] = old_emb
        bias[:n_chars] = old_bias
        if mode == "mean":
            for row, ids in enumerate(char_to_word_ids(vocab), start=n_chars):
                idx = torch.tensor(ids, dtype=torch.long)
                emb[row] = old_emb[idx].mean(0)
                bias[row] = old_bias[idx].mean()
        else:
            g = torch.Generator()
            g.manual_seed(seed)
            emb[n_chars:] = torch.randn(len(vocab) - n_chars, emb.shape[1], generator=g) * c.initializer_range
            bias[n_chars:] = 0.0
    return model


def continued_key(cfg: PretrainConfig, cont: ContinueConfig) -> str:
    return "cont-" + _key({"v": ARTIFACT_VERSION, "parent": char_mlm_key(cfg), "cont": cont.to_dict()})


@dataclass
class MLMArtifact:
    """A continued-pretraining result: final model, early checkpoint, vocab, tokenizer, build info."""

    model: Any
    early_model: Any
    vocab: Vocab
    tokenizer: Any
    info: dict


def continued_mlm(scale: str | PretrainConfig, cont: ContinueConfig) -> MLMArtifact:
    """The char MLM of ``scale`` after ``cont.steps`` more MLM steps in arm ``cont.arm`` (cached)."""
    from harness.models.zh_tokenizers import make_tokenizer

    if cont.arm not in ARMS:
        raise HarnessError(f"unknown continued-pretraining arm {cont.arm!r} (allowed: {', '.join(ARMS)})")
    cfg = preset(scale)
    if not 0 < cont.early_steps <= cont.steps:
        raise HarnessError(f"early_steps must be in [1, steps={cont.steps}], got {cont.early_steps}")
    key = continued_key(cfg, cont)

    def build(folder: Path) -> dict[str, Any]:
        from harness.models.zh_tokenizers import encode_ids

        char_model, cvocab, _ = _load_cached(char_mlm_key(cfg), _build_char(cfg), cfg.model)
        if cont.arm == "char":
            vocab, model = cvocab, char_model
        else:
            vocab = word_vocab(cfg, cont.num_words, cont.word_min_count)
            model = init_word_model(char_model, vocab, cont.arm, seed=cfg.seed + 1)
        seqs = encode_ids(vocab, corpus(cfg))
        log = train_mlm(
            model,
            vocab,
            seqs,
            steps=cont.steps,
            batch_size=cfg.batch_size,
            lr=cont.lr,
            warmup=cont.warmup,
            max_len=cfg.max_len,
            seed=cfg.seed + 2,
            workdir=folder,
            ckpt_every=min(cfg.ckpt_every, cont.early_steps),
            desc=f"continued MLM ({cont.arm})",
            keep_at=(cont.early_steps,),
        )
        (folder / f"step{cont.early_steps}.pt").replace(folder / "early.pt")
        _save(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", _vocab_to_json(vocab))
        (folder / "ckpt.pt").unlink(missing_ok=True)
        return {
            "kind": "continued",
            "arm": cont.arm,
            "config": cfg.to_dict(),
            "continue": cont.to_dict(),
            "vocab_size": len(vocab),
            "corpus_texts": len(seqs),
            **log,
        }

    model, vocab, info = _load_cached(key, build, cfg.model)
    early, _, _ = _load_cached(key, build, cfg.model, weights="early.pt")
    return MLMArtifact(model, early, vocab, make_tokenizer(vocab, cfg.model.max_positions - 2), info)
