"""Packed (padding-free) decoder runs equal the model's own padded forward: states, the top layer run only
at selected positions, a shared prefix's cache, and the gradients LoRA training takes through them."""

from __future__ import annotations

import copy

import pytest
import torch
from lm_tiny import tiny_model

from harness.models import lm_packed
from harness.models import lm_states as L
from harness.models.lm_scoring import base_model, pad_ids

TOL = dict(atol=2e-5, rtol=1e-5)
LENGTHS = (5, 9, 1, 12, 7)


@pytest.fixture(scope="module")
def model():
    return tiny_model(300, layers=3)


def _sequences(model, lengths=LENGTHS):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(5, model.config.vocab_size, (n,), generator=g).tolist() for n in lengths]


def _padded_final(model, seqs):
    base = base_model(model)
    ids, mask = pad_ids(seqs, 0)
    with torch.inference_mode():
        return base(
            input_ids=ids, attention_mask=mask, position_ids=L._positions(mask), use_cache=False
        ).last_hidden_state


def test_packed_states_equal_the_padded_forward(model):
    base, seqs = base_model(model), _sequences(model)
    ref = _padded_final(model, seqs)
    packing = lm_packed.pack([len(q) for q in seqs])
    with torch.inference_mode():
        flat = base.embed_tokens(torch.tensor([t for q in seqs for t in q]))
        out = packing.split(lm_packed.run_layers(base, list(base.layers), flat, packing, norm=base.norm))
        picks = packing.at([0, 3, 3, 4, 2], [4, 0, 11, 6, 0])
        part = lm_packed.run_layers(base, list(base.layers), flat, packing, select=picks, norm=base.norm)
    for i, q in enumerate(seqs):
        torch.testing.assert_close(out[i], ref[i, : len(q)], **TOL)
    torch.testing.assert_close(part, torch.stack([ref[0, 4], ref[3, 0], ref[3, 11], ref[4, 6], ref[2, 0]]), **TOL)
    assert lm_packed.packable(base)
    sliding = copy.copy(base)
    sliding.config = copy.copy(base.config)
    sliding.config.layer_types = ["sliding_attention"] * 3  # e.g. Gemma's: left to the padded path
    assert not lm_packed.packable(sliding)


def test_a_shared_prefix_cache_continues_like_the_whole_sequence(model):
    """Texts after a prefix whose keys and values a cache holds: the last states equal the whole padded run's."""
    from transformers import DynamicCache

    base, seqs = base_model(model), _sequences(model)
    prefix = [7, 8, 9]
    ref = _padded_final(model, [prefix + q for q in seqs])
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        out = base(input_ids=torch.tensor([prefix]), cache=cache, use_cache=True).last_hidden_state
        got = lm_packed.last_states(base, seqs, cache, out[0, -1], batch=2)
        empty = lm_packed.last_states(base, [[]], copy.deepcopy(cache), out[0, -1], batch=2)
    want = torch.stack([ref[i, len(prefix) + len(q) - 1] for i, q in enumerate(seqs)])
    torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(empty[0], ref[0, len(prefix) - 1], **TOL)


def test_top_layers_train_the_same_through_the_packed_path(model):
    """final_at packed (the top layer only at the asked positions) and padded give the same values and
    the same gradients: training through either is one recipe."""
    m = copy.deepcopy(model)
    states = L.lower_states(m, _sequences(m), 2)
    top = L.TopLayers(m, 2)
    rows, cols = [0, 1, 1, 3, 4], [4, 8, 2, 11, 0]
    grads = []
    for packed in (True, False):
        top.packed = packed
        m.zero_grad()
        final = top.final_at(states, rows, cols)
        (final.square().sum()).backward()
        grads.append([p.grad.clone() for p in top.parameters()])
        if packed:
            first = final.detach()
    torch.testing.assert_close(first, final.detach(), **TOL)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
