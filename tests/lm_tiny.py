"""Tiny random Qwen2 causal LMs for tests: a byte-level BPE tokenizer that knows a few Chinese
characters, a 2-layer model saved with ``save_pretrained``, and the same model written as a GGUF file
(with the metadata transformers' GGUF loader reads for qwen2, tokenizer included).

The weights are initialised with a large spread (``initializer_range=0.4``): with the usual 0.02
attention is almost uniform and a test could not tell a wrong position or mask from a right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHINESE = "很不满意。评论这条的情感是正面负好差总之我觉得失望"
END = "<|endoftext|>"


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
        max_position_embeddings=256,
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


def write_gguf(path: Path, model: Any) -> Path:
    """``model`` (a tiny Qwen2) as an fp32 GGUF file with the tiny tokenizer, llama.cpp tensor names."""
    import gguf
    import numpy as np

    cfg = model.config
    vocab, merges = vocab_and_merges()
    tokens = sorted(vocab, key=vocab.get)
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name("tiny-qwen2")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t == END else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    for add in (w.add_bos_token_id, w.add_eos_token_id, w.add_pad_token_id):
        add(vocab[END])
    w.add_add_bos_token(False)
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for i in range(cfg.num_hidden_layers):
        names.update({f"model.layers.{i}.{k}": f"blk.{i}.{v}" for k, v in per_layer.items()})
    for name, tensor in model.state_dict().items():
        w.add_tensor(names[name], np.ascontiguousarray(tensor.detach().float().numpy()))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
