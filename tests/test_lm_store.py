"""Chunked disk caches of lower-layer states and option scores shared between workers (harness.models.lm_store)."""

from __future__ import annotations

import threading
import time

import torch
from lm_tiny import save_tiny

from harness.artifacts import artifact_path, cache_dir
from harness.models import lm_store
from harness.models.lm_scoring import Pattern, build_plan, score_plan
from harness.models.lm_states import lower_states

SEQS = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14], [15], [16, 17, 18, 19], [20, 21, 22]]


def _model(tmp_path):
    return save_tiny(tmp_path / "m")


def test_states_equal_lower_states_in_input_order_and_are_read_back(tmp_path):
    model, _ = _model(tmp_path)
    fresh = lower_states(model, SEQS, 1)
    got = lm_store.shared_lower_states("w", model, SEQS, 1, chunk=2)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-5) for a, b in zip(fresh, got))
    files = sorted((cache_dir() / "lm-states").glob("*.safetensors"))
    assert len(files) >= 3
    calls = []
    real = lm_store.lower_states
    lm_store.lower_states = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        again = lm_store.shared_lower_states("w", model, SEQS, 1, chunk=2)
        other_weights = lm_store.shared_lower_states("w2", model, SEQS[:2], 1, chunk=2)
    finally:
        lm_store.lower_states = real
    assert all(torch.equal(a, b) for a, b in zip(got, again)) and len(calls) == 1  # only "w2" was built
    assert len(other_weights) == 2


def test_a_corrupt_chunk_is_rebuilt(tmp_path):
    model, _ = _model(tmp_path)
    first = lm_store.shared_lower_states("corrupt", model, SEQS, 1, chunk=3)
    for path in (cache_dir() / "lm-states").glob("*.safetensors"):
        path.write_bytes(b"garbage")
    again = lm_store.shared_lower_states("corrupt", model, SEQS, 1, chunk=3)
    assert all(torch.allclose(a, b) for a, b in zip(first, again))


def test_a_chunk_another_worker_holds_is_skipped_then_read(tmp_path):
    """Worker B finds chunk 0 locked by worker A: it builds the other chunks first, then waits for A's."""
    from filelock import FileLock

    model, _ = _model(tmp_path)
    seqs = [[1, 2, 3], [4, 5, 6, 7]]
    keys = [lm_store._key("states", "busy", 1, [s]) for s in sorted(seqs, key=len)]
    lock = FileLock(str(artifact_path("lm-states", keys[0], ".lock")))
    lock.acquire()
    order: list[str] = []
    real = lm_store.lower_states

    def spy(m, s, layer, **kw):
        order.append("B builds " + ",".join(map(str, s[0])))
        return real(m, s, layer, **kw)

    lm_store.lower_states = spy
    out: list = []
    worker = threading.Thread(target=lambda: out.append(lm_store.shared_lower_states("busy", model, seqs, 1, chunk=1)))
    try:
        worker.start()
        time.sleep(0.5)
        assert order == ["B builds 4,5,6,7"]  # the free chunk, while chunk 0 is held
        order.append("A done")
        lock.release()
        worker.join(10)
    finally:
        lm_store.lower_states = real
    assert not worker.is_alive() and order[-1] == "B builds 1,2,3" and len(out[0]) == 2


def test_option_scores_equal_score_plan_and_are_stored(tmp_path):
    model, tok = _model(tmp_path)
    texts = ["很满意", "不好", "差评", "总之我觉得好", "失望"]
    plan = build_plan(tok, Pattern("{y}满意。{x}"), texts, ["不", "很"], start_token=True)
    want = score_plan(model, plan, 8, tok.pad_token_id)
    got = lm_store.shared_option_scores("w", model, plan, pad_id=tok.pad_token_id, chunk=2)
    assert torch.allclose(got, want, atol=1e-5)
    assert len(list((cache_dir() / "lm-scores").glob("*.safetensors"))) >= 3
    assert torch.equal(lm_store.shared_option_scores("w", model, plan, pad_id=tok.pad_token_id, chunk=2), got)


def test_weights_id_changes_with_the_folder_contents(tmp_path):
    model, _ = _model(tmp_path)
    folder = tmp_path / "m"
    before = lm_store.weights_id(str(folder))
    assert lm_store.weights_id("qwen2.5-0.5b").startswith("qwen2.5-0.5b@")
    assert lm_store.weights_id(str(folder) + "+int8") == before + "+int8"
    time.sleep(0.01)
    model.save_pretrained(str(folder))  # rewritten: new times
    assert lm_store.weights_id(str(folder)) != before


def test_a_deeper_layer_continues_from_the_states_stored_below(tmp_path, monkeypatch):
    """States entering layer 2 are built from the stored layer-1 states of the same chunk: only layer 1 runs,
    and the result equals a build from the embeddings (packed and padded alike)."""
    model, _ = _model(tmp_path)
    from harness.models import lm_packed, lm_states

    for packed in (True, False):
        monkeypatch.setattr(lm_packed, "packable", lambda base, p=packed: p)
        weights = f"below-{packed}"
        lm_store.shared_lower_states(weights, model, SEQS, 1, chunk=3)
        seen: list = []
        real = lm_store.lower_states

        def spy(*a, seen=seen, real=real, **k):
            seen.append(k.get("start_layer"))
            return real(*a, **k)

        monkeypatch.setattr(lm_store, "lower_states", spy)
        got = lm_store.shared_lower_states(weights, model, SEQS, 2, chunk=3)
        monkeypatch.setattr(lm_store, "lower_states", real)
        assert seen == [1, 1]  # two chunks, each from layer 1
        fresh = lm_states.lower_states(model, SEQS, 2)
        assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-5) for a, b in zip(fresh, got))
