"""Tiny random Qwen2 causal LMs for tests: the model and tokenizer of ``harness.models.lm_tiny``
(also the smoke suite's ``tiny-random-qwen2`` backbone), and the same model written as a GGUF file
(with the metadata transformers' GGUF loader reads for qwen2, tokenizer included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.models.lm_tiny import CHINESE, END, save_tiny, tiny_model, tiny_tokenizer, vocab_and_merges

__all__ = [
    "CHINESE",
    "END",
    "fake_gguf_source",
    "save_tiny",
    "tiny_model",
    "tiny_tokenizer",
    "vocab_and_merges",
    "write_gguf",
]


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


def fake_gguf_source(
    tmp_path: Path, monkeypatch: Any, payload: bytes, n_parts: int = 2, sha: str | None = None
) -> tuple[Any, Path]:
    """Part packages ``kxfake_partN`` (on sys.path) whose data files concatenate to ``payload``, registered as
    the PyPI-GGUF backbone ``kxfake`` (the real sources' code path, without their 490 MB)."""
    import hashlib

    from harness.models import lm_backbones, lm_gguf

    site = tmp_path / "site"
    cut = [len(payload) * k // n_parts for k in range(n_parts + 1)]
    parts = []
    for n in range(1, n_parts + 1):
        pkg = site / f"kxfake_part{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(payload[cut[n - 1] : cut[n]])
        parts.append(lm_gguf.GgufPart(f"kxfake-part{n}", "1.0", f"kxfake_part{n}", f"data/part{n:02d}.bin"))
    monkeypatch.syspath_prepend(str(site))
    digest = sha or hashlib.sha256(payload).hexdigest()
    source = lm_gguf.GgufSource(
        key="kxfake", filename="kxfake.gguf", parts=tuple(parts), size=len(payload), sha256=digest
    )
    monkeypatch.setitem(lm_gguf.SOURCES, "kxfake", source)
    entry = lm_backbones.Backbone("kxfake", "causal", "fake", lm_backbones._load_pypi_gguf("kxfake"))
    monkeypatch.setitem(lm_backbones.BACKBONES, "kxfake", entry)
    return source, site
