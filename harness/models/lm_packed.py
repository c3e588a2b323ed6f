"""Padding-free runs of a causal LM's decoder layers: a batch's sequences packed into one row.

Why: texts of a batch differ in length, and right-padding them to the longest spends 17-18% of the
forward's matmul work on padding on the quick block's reviews (``benchmarks/bench_lm_roofline.py``).
Every linear map of a decoder layer works token by token, so the batch's tokens are concatenated into
one row of N tokens; only attention needs to know where a sequence ends, which a block-diagonal causal
mask tells it, and rotary positions restart at every sequence. The layers are the model's own modules,
called as its own decoder stack calls them (LoRA adapters included), so the states are the padded
forward's up to float rounding (tested against it).

Second saving: a label's score reads one position per text, PET's language-model loss ~15% of them.
The last layer's output elsewhere is never read, so ``run_layers(..., select=...)`` computes its keys
and values at every position (the selected queries attend to them) but its queries, output
projection and MLP only at the selected positions: ~1/15 of a layer for a head or a score.

Only decoder stacks whose layers are all full attention and Llama-style (``Qwen2Model``,
``LlamaModel``) are packed; any other model (Gemma's sliding windows, its scaled embeddings) takes
the padded path of its callers (``packable`` says which).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

PACKABLE_STACKS = ("Qwen2Model", "LlamaModel")


def packable(base: Any) -> bool:
    """Whether ``base`` (a decoder stack, or a shallow copy of one) runs packed: Llama-style layers, every
    one full attention, no attention dropout."""
    cfg = base.config
    types = getattr(cfg, "layer_types", None) or ["full_attention"]
    return (
        type(base).__name__ in PACKABLE_STACKS
        and set(types) == {"full_attention"}
        and not getattr(cfg, "attention_dropout", 0.0)
    )


@dataclass
class Packing:
    """Where each sequence lies in the packed row: ``offsets[i]`` to ``offsets[i] + lengths[i]``."""

    lengths: list[int]
    offsets: list[int]
    positions: torch.Tensor  # [1, N]: each token's position, counted from a shared prefix's length

    @property
    def tokens(self) -> int:
        return sum(self.lengths)

    def last(self) -> torch.Tensor:
        """Packed index of every sequence's last token."""
        return torch.tensor([o + n - 1 for o, n in zip(self.offsets, self.lengths)], device=self.positions.device)

    def at(self, rows: Sequence[int], cols: Sequence[int]) -> torch.Tensor:
        """Packed indices of (sequence, position) pairs."""
        return torch.tensor(
            [self.offsets[r] + c for r, c in zip(rows, cols)], dtype=torch.long, device=self.positions.device
        )

    def split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Per-sequence [T_i, H] views of packed states [N, H]."""
        return list(flat.split(self.lengths))


def pack(lengths: Sequence[int], device: Any = "cpu", prefix: int = 0) -> Packing:
    """The packing of sequences of ``lengths`` whose positions start after ``prefix`` shared tokens."""
    lengths = [int(n) for n in lengths]
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    pos = torch.cat([torch.arange(n) for n in lengths]) if lengths else torch.zeros(0, dtype=torch.long)
    return Packing(lengths, offsets, (pos + prefix)[None].to(device))


def run_layers(
    base: Any, layers: Sequence[Any], hidden: torch.Tensor, packing: Packing, *, select=None, cache=None, norm=None
) -> torch.Tensor:
    """Packed states [N, H] through ``layers`` (the model's own decoder layers, in order), then ``norm`` if given.

    ``select`` (packed indices): the last layer runs its queries, output projection and MLP only
    there, and the result is [len(select), H]. ``cache``: a cache holding a shared prefix's keys and
    values (updated in place; pass a copy), whose length ``packing`` was built with."""
    from harness.models.lm_cost import charge_layers

    if len(layers):
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in layers[-1].parameters())
        charge_layers(layers[0], hidden.shape[0], len(layers), None if select is None else len(select), grad)
    h = hidden[None]
    pos_emb = base.rotary_emb(h, packing.positions)
    order = None
    if select is not None:
        select, order = torch.sort(torch.as_tensor(select, device=h.device))  # attention walks them in order
    for i, layer in enumerate(layers):
        h = decoder_layer(layer, h, packing, pos_emb, select if i == len(layers) - 1 else None, cache)
    if select is not None and not len(layers):
        h = h[:, select]
    h = h[0]
    if order is not None:
        h = h[torch.argsort(order)]
    return norm(h) if norm is not None else h


def decoder_layer(layer: Any, h: torch.Tensor, packing: Packing, pos_emb: Any, select=None, cache=None) -> torch.Tensor:
    """One Llama-style decoder layer (pre-norm attention and MLP, each added to the residual) on packed
    states [1, N, H]: keys and values of every token, the rest only at ``select`` when given. Attention
    runs sequence by sequence (no work on pairs of tokens from different sequences)."""
    attn = layer.self_attn
    rotary = sys.modules[type(layer).__module__].apply_rotary_pos_emb  # the modeling module's own
    x = layer.input_layernorm(h)
    hd, n = attn.head_dim, x.shape[1]
    xq = x if select is None else x[:, select]
    q = attn.q_proj(xq).view(1, xq.shape[1], -1, hd).transpose(1, 2)
    k = attn.k_proj(x).view(1, n, -1, hd).transpose(1, 2)
    v = attn.v_proj(x).view(1, n, -1, hd).transpose(1, 2)
    cos, sin = pos_emb
    q, _ = rotary(q, q, cos if select is None else cos[:, select], sin if select is None else sin[:, select])
    _, k = rotary(k, k, cos, sin)
    prefix = 0
    if cache is not None:
        prefix = cache.get_seq_length(attn.layer_idx)
        k, v = cache.update(k, v, attn.layer_idx)
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    out = _attention(q, k, v, packing, prefix, select, attn.scaling)
    hs = (h if select is None else h[:, select]) + attn.o_proj(out.transpose(1, 2).reshape(1, q.shape[2], -1))
    return hs + layer.mlp(layer.post_attention_layernorm(hs))


def _attention(q, k, v, packing: Packing, prefix: int, select, scale: float) -> torch.Tensor:
    """Causal attention within each packed sequence (after ``prefix`` shared keys): [1, heads, Q, hd].

    Every query sees the prefix and its own sequence up to itself. Full sequences take the fused causal
    kernel (after a shared prefix, ``prefix`` placeholder queries in front line the diagonal up); a
    sequence read only at its last token needs no mask; other selections an explicit one."""
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    parts = []
    picked = select.tolist() if select is not None else None
    qi = 0
    for o, n in zip(packing.offsets, packing.lengths):
        keys = (
            torch.cat([k[:, :, :prefix], k[:, :, prefix + o : prefix + o + n]], dim=2) if prefix else k[:, :, o : o + n]
        )
        vals = (
            torch.cat([v[:, :, :prefix], v[:, :, prefix + o : prefix + o + n]], dim=2) if prefix else v[:, :, o : o + n]
        )
        if picked is None:
            qs = q[:, :, o : o + n]
            if prefix:
                qs = torch.cat([qs.new_zeros(*qs.shape[:2], prefix, qs.shape[3]), qs], dim=2)
            parts.append(sdpa(qs, keys, vals, is_causal=True, scale=scale)[:, :, prefix:])
            continue
        rows = []
        while qi < len(picked) and picked[qi] < o + n:
            rows.append(picked[qi] - o)
            qi += 1
        if not rows:
            continue
        qs = q[:, :, qi - len(rows) : qi]
        if rows == [n - 1]:  # the last token sees everything before it
            parts.append(sdpa(qs, keys, vals, scale=scale))
            continue
        pos = torch.tensor(rows, device=q.device)
        allowed = torch.arange(n, device=q.device)[None, :] <= pos[:, None]
        allowed = torch.cat([torch.ones(len(rows), prefix, dtype=torch.bool, device=q.device), allowed], dim=1)
        parts.append(sdpa(qs, keys, vals, attn_mask=allowed, scale=scale))
    return torch.cat(parts, dim=2)


def _with_prefix(t: torch.Tensor, prefix: int, offset: int, n: int) -> torch.Tensor:
    """A sequence's keys (or values) after the shared prefix's, from packed [1, heads, prefix + N, hd]."""
    own = t[:, :, prefix + offset : prefix + offset + n]
    return torch.cat([t[:, :, :prefix], own], dim=2) if prefix else own


def last_states(base: Any, middles: Sequence[Sequence[int]], prefix_cache: Any, prefix_last: torch.Tensor, batch: int):
    """Final states [n, H] at the last token of each ``middles[i]`` (token ids continuing a shared prefix
    whose keys and values ``prefix_cache`` holds and whose own final state is ``prefix_last``), ``batch``
    sequences packed per row; an empty middle reads ``prefix_last``. What a label-last plan's scores need."""
    import copy

    dev = prefix_last.device
    prefix = prefix_cache.get_seq_length()
    out = []
    for b in range(0, len(middles), batch):
        part = middles[b : b + batch]
        last = prefix_last.reshape(1, -1).expand(len(part), -1).clone()
        full = [k for k, m in enumerate(part) if m]
        if full:
            packing = pack([len(part[k]) for k in full], dev, prefix=prefix)
            flat = base.embed_tokens(torch.tensor([t for k in full for t in part[k]], device=dev))
            last[full] = run_layers(
                base,
                list(base.layers),
                flat,
                packing,
                select=packing.last(),
                cache=copy.deepcopy(prefix_cache),
                norm=base.norm,
            )
        out.append(last)
    return torch.cat(out) if out else prefix_last.new_zeros(0, prefix_last.shape[-1])
