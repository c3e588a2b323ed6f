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

This module holds the recipes and cache keys; the training loop is ``harness.models.mlm_train``,
batching ``harness.models.mlm_batches``, the artifact folders ``harness.models.mlm_store``. The
names other modules import from here (``pad_batch``, ``pad_rows``, ``batch_plan``,
``linear_warmup_decay``, ``mlm_bits_per_char``) stay importable from here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.artifacts import atomic_write_bytes, cached_pickle
from harness.errors import HarnessError
from harness.models.mlm_batches import batch_plan, pad_batch, pad_rows
from harness.models.mlm_store import _LOADED, load_cached, vocab_to_json
from harness.models.mlm_train import MLMTrainConfig, linear_warmup_decay, mlm_bits_per_char, save_state, train_mlm
from harness.models.tinybert import TinyBertConfig
from harness.models.zh_tokenizers import Vocab

# Public names of the split-out modules, kept importable from here; _LOADED so tests can clear it.
__all__ = [
    "ARMS",
    "ContinueConfig",
    "MLMArtifact",
    "PRESETS",
    "PretrainConfig",
    "_LOADED",
    "batch_plan",
    "char_mlm_key",
    "continued_key",
    "continued_mlm",
    "init_word_model",
    "linear_warmup_decay",
    "mlm_bits_per_char",
    "pad_batch",
    "pad_rows",
    "pretrained_char_mlm",
    "train_mlm",
]

ARTIFACT_VERSION = 1
ARMS = ("char", "mean", "random")


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
    # Independent continued-pretraining runs (new-row init and MLM batches); 0 is the original run.
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.arm == "char":  # word-vocab params do not change a char arm: keep its key stable
            d.pop("num_words")
            d.pop("word_min_count")
        if not self.seed:  # seed 0 keeps the keys of artifacts built before seeds existed
            d.pop("seed")
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


# --- artifacts -----------------------------------------------------------------------------------
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
        run = MLMTrainConfig(
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            warmup=cfg.warmup,
            max_len=cfg.max_len,
            seed=cfg.seed,
            ckpt_every=cfg.ckpt_every,
            desc="char MLM",
        )
        log = train_mlm(model, vocab, seqs, folder, run)
        save_state(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", vocab_to_json(vocab))
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
        save_state(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", vocab_to_json(vocab))
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
    model, vocab, _ = load_cached(char_mlm_key(cfg), _build_char(cfg), cfg.model)
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

        char_model, cvocab, _ = load_cached(char_mlm_key(cfg), _build_char(cfg), cfg.model)
        if cont.arm == "char":
            vocab, model = cvocab, char_model
        else:
            vocab = word_vocab(cfg, cont.num_words, cont.word_min_count)
            model = init_word_model(char_model, vocab, cont.arm, seed=cfg.seed + 1 + 1000 * cont.seed)
        seqs = encode_ids(vocab, corpus(cfg))
        run = MLMTrainConfig(
            steps=cont.steps,
            batch_size=cfg.batch_size,
            lr=cont.lr,
            warmup=cont.warmup,
            max_len=cfg.max_len,
            seed=cfg.seed + 2 + 1000 * cont.seed,
            ckpt_every=min(cfg.ckpt_every, cont.early_steps),
            desc=f"continued MLM ({cont.arm})",
            keep_at=(cont.early_steps,),
        )
        log = train_mlm(model, vocab, seqs, folder, run)
        (folder / f"step{cont.early_steps}.pt").replace(folder / "early.pt")
        save_state(folder / "model.pt", model.state_dict())
        atomic_write_bytes(folder / "vocab.json", vocab_to_json(vocab))
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

    model, vocab, info = load_cached(key, build, cfg.model)
    early, _, _ = load_cached(key, build, cfg.model, weights="early.pt")
    return MLMArtifact(model, early, vocab, make_tokenizer(vocab, cfg.model.max_positions - 2), info)
