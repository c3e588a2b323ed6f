"""A tiny random Qwen2 causal LM and its byte-level BPE tokenizer, built in-process (no download).

Why in the harness and not only in the tests: the smoke suite runs every fewshot method on a causal
LM end to end, offline, in seconds; the registered backbone ``tiny-random-qwen2`` is this model,
saved once into the artifact cache as a ``save_pretrained`` folder. Its answers are random (it was
never trained): it checks plumbing, never a claim.

The tokenizer has the 256 byte tokens, merges that make each character of ``CHINESE`` one token,
and ``<|endoftext|>`` as BOS/EOS/pad. The weights use a large spread (``initializer_range=0.4``):
with the usual 0.02 attention is almost uniform and a test could not tell a wrong position or mask
from a right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHINESE = "很不满意。评论这条的情感是正面负好差总之我觉得失望"
END = "<|endoftext|>"
TINY_KEY = "tiny-random-qwen2-v1"


def _byte_chars() -> dict[int, str]:
    """GPT-2's byte -> printable-character table (the byte-level BPE alphabet)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """All 256 byte tokens, merges that make each character of ``CHINESE`` one token, and END last."""
    table = _byte_chars()
    vocab = {table[b]: b for b in range(256)}
    merges: list[tuple[str, str]] = []
    for ch in dict.fromkeys(CHINESE):
        s = "".join(table[b] for b in ch.encode())
        for left, right in ((s[0], s[1]), (s[:2], s[2])):
            if left + right not in vocab:
                merges.append((left, right))
                vocab[left + right] = len(vocab)
    vocab[END] = len(vocab)
    return vocab, merges


def tiny_tokenizer() -> Any:
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    vocab, merges = vocab_and_merges()
    return Qwen2Tokenizer(vocab=vocab, merges=merges, bos_token=END, eos_token=END, pad_token=END)


def tiny_model(vocab_size: int, layers: int = 2, seed: int = 0) -> Any:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        initializer_range=0.4,
        rms_norm_eps=1e-6,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(cfg).eval()


def save_tiny(folder: Path, layers: int = 2) -> tuple[Any, Any]:
    """A tiny model + tokenizer saved as a ``save_pretrained`` folder; returns them."""
    tok = tiny_tokenizer()
    model = tiny_model(len(tok), layers)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return model, tok


def cached_tiny_folder() -> Path:
    """The registered ``tiny-random-qwen2``: built once (3 layers, seed 0) under the cache, behind its lock."""
    import shutil

    from harness.artifacts import artifact_lock, artifact_path

    folder = artifact_path("lm", TINY_KEY)
    if (folder / "config.json").is_file():
        return folder
    with artifact_lock("lm", TINY_KEY):
        if not (folder / "config.json").is_file():
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            save_tiny(tmp, layers=3)
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
    return folder
