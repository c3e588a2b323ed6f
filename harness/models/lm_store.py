"""Disk caches of frozen-model work shared by every cell of a suite: lower-layer states and option scores.

Why chunks: with ``-j 2`` the first two cells of a pattern want the same 1,000 test texts' states; one
big file behind one lock would leave the second worker idle for the whole build. Here the texts are
cut into chunks (length-sorted, so batches pad little), each its own file and lock. A worker builds the
chunks nobody holds (non-blocking lock), reads those another worker finished, and waits only at the
end for chunks still being built. Files are written atomically; an unreadable or mismatched file is
rebuilt. A chunk whose texts are stored at a lower layer (another arm's deeper trained top) is
continued from there: only the layers between run.

Keys: ``weights_id(spec)`` names the weights (a registered model's pinned sha256; a local folder's
file sizes and times), plus the layer and the exact token sequences, so a different model or
tokenization never reads another's states.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from harness.models.lm_scoring import Plan, score_plan
from harness.models.lm_states import lower_states

CHUNK = 64  # texts per stored chunk: ~12 MB of Qwen-0.5B states at 55 tokens per text
REUSE_LAYERS = 4  # a chunk is continued from the same texts' states up to this many layers below
FORMAT = "v1"


def weights_id(spec: str) -> str:
    """A string that changes when the weights behind ``spec`` change (cache keys of frozen-model work)."""
    from harness.models import lm_backbones, lm_gguf

    base, int8 = lm_backbones.split_spec(spec)
    r = lm_backbones.resolve(base)
    if r.kind == "registered":
        source = lm_gguf.SOURCES.get(r.target)
        ident = f"{r.target}@{source.sha256[:16]}" if source else r.target
    elif r.kind == "hub":
        ident = f"hub:{r.target}"
    else:
        path = Path(r.target)
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
        stamp = ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        ident = f"{r.kind}:{os.path.abspath(r.target)}|" + hashlib.sha1(stamp.encode()).hexdigest()[:16]
    return ident + ("+int8" if int8 else "")


def _key(*parts: Any) -> str:
    h = hashlib.sha1(FORMAT.encode())
    for part in parts:
        h.update(b"|")
        h.update(repr(part).encode())
    return h.hexdigest()[:24]


def cooperative_chunks(
    kind: str, keys: Sequence[str], build: Callable[[int], dict[str, torch.Tensor]], check: Callable[[int, dict], bool]
) -> list[dict[str, torch.Tensor]]:
    """One tensor dict per key: read from ``<cache>/<kind>/<key>.safetensors`` when present and ``check``
    accepts it, else built with ``build(i)`` under that chunk's lock. Chunks another process is building
    are skipped first and collected at the end."""
    from filelock import FileLock, Timeout
    from safetensors.torch import load_file, save

    from harness.artifacts import artifact_path, atomic_write_bytes

    out: list[dict[str, torch.Tensor] | None] = [None] * len(keys)

    def read(i: int) -> dict[str, torch.Tensor] | None:
        path = artifact_path(kind, keys[i], ".safetensors")
        if not path.exists():
            return None
        try:
            data = load_file(str(path))
        except Exception:
            return None
        return data if check(i, data) else None

    def build_locked(i: int, lock: Any) -> None:
        with lock:
            found = read(i)
            if found is None:
                found = build(i)
                atomic_write_bytes(artifact_path(kind, keys[i], ".safetensors"), save(found))
            out[i] = found

    waiting = []
    for i in range(len(keys)):
        out[i] = read(i)
        if out[i] is not None:
            continue
        lock = FileLock(str(artifact_path(kind, keys[i], ".lock")))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            waiting.append((i, lock))
            continue
        try:
            build_locked(i, lock)
        finally:
            lock.release()
    for i, lock in waiting:  # built by another worker meanwhile, or still being built: wait for it
        build_locked(i, lock)
    return out  # type: ignore[return-value]


def _length_chunks(lengths: Sequence[int], size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[b : b + size] for b in range(0, len(order), size)]


def state_chunks(
    weights: str, sequences: Sequence[Sequence[int]], layer: int, chunk: int = CHUNK
) -> tuple[list[list[int]], list[str]]:
    """How ``shared_lower_states`` stores ``sequences``: the chunks (indices) and their file keys."""
    chunks = _length_chunks([len(s) for s in sequences], chunk)
    return chunks, [_key("states", weights, layer, [list(sequences[i]) for i in c]) for c in chunks]


def score_chunks(weights: str, plan: Plan, chunk: int = CHUNK) -> tuple[list[list[int]], list[str]]:
    """How ``shared_option_scores`` stores ``plan``'s scores: the chunks (text indices) and their file keys."""
    chunks = _length_chunks([max(len(s) for s in opts) for opts in plan.options], chunk)
    return chunks, [_key("scores", weights, plan.prefix, [plan.options[i] for i in c]) for c in chunks]


def stored(kind: str, key: str) -> bool:
    """Whether a chunk file exists (``lm-states`` or ``lm-scores``): what a cost estimate counts as done."""
    from harness.artifacts import artifact_path

    return artifact_path(kind, key, ".safetensors").exists()


def add_state_work(
    work: dict[str, tuple[int, int]], weights: str, sequences: Sequence[Sequence[int]], layer: int, chunk: int = CHUNK
) -> None:
    """Add to ``work`` (chunk key -> (tokens, layers to run)) what building these states at ``layer``
    still costs: chunks neither on disk nor in ``work`` already, each from the nearest lower layer (at most
    ``REUSE_LAYERS`` below) whose chunk is on disk or in ``work`` (built first), else from the embeddings."""
    chunks, keys = state_chunks(weights, sequences, layer, chunk)
    for c, key in zip(chunks, keys):
        if key in work or stored("lm-states", key):
            continue
        seqs = [list(sequences[i]) for i in c]
        below = 0
        for lower in range(layer - 1, max(layer - REUSE_LAYERS, 0) - 1, -1):
            lower_key = _key("states", weights, lower, seqs)
            if lower_key in work or stored("lm-states", lower_key):
                below = lower
                break
        work[key] = (sum(len(q) for q in seqs), layer - below)


def shared_lower_states(
    weights: str,
    model: Any,
    sequences: Sequence[Sequence[int]],
    layer: int,
    *,
    batch_size: int = 8,
    pad_id: int = 0,
    chunk: int = CHUNK,
) -> list[torch.Tensor]:
    """``lm_states.lower_states`` of ``sequences`` (input order), stored per chunk on disk and shared
    across processes; ``weights`` is ``weights_id(spec)`` of the model."""
    chunks, keys = state_chunks(weights, sequences, layer, chunk)

    def build(k: int) -> dict[str, torch.Tensor]:
        seqs = [sequences[i] for i in chunks[k]]
        below, start = _stored_below(weights, seqs, layer)
        states = lower_states(model, seqs, layer, batch_size=batch_size, pad_id=pad_id, start=start, start_layer=below)
        return {"states": torch.cat(states).contiguous(), "lengths": torch.tensor([len(s) for s in seqs])}

    def check(k: int, data: dict) -> bool:
        want = [len(sequences[i]) for i in chunks[k]]
        return "states" in data and data["lengths"].tolist() == want and data["states"].shape[0] == sum(want)

    out: list[torch.Tensor | None] = [None] * len(sequences)
    for c, data in zip(chunks, cooperative_chunks("lm-states", keys, build, check)):
        for i, s in zip(c, torch.split(data["states"], data["lengths"].tolist())):
            out[i] = s
    return out  # type: ignore[return-value]


def _stored_below(weights: str, seqs: Sequence[Sequence[int]], layer: int) -> tuple[int, list[torch.Tensor] | None]:
    """The nearest lower layer (at most ``REUSE_LAYERS`` below) whose states of exactly this chunk are on disk,
    and those states: a deeper trained top (lora-top2 beside lora-top1) then runs only the layers between."""
    from safetensors.torch import load_file

    from harness.artifacts import artifact_path

    lengths = [len(s) for s in seqs]
    for below in range(layer - 1, max(layer - REUSE_LAYERS, 0) - 1, -1):
        path = artifact_path("lm-states", _key("states", weights, below, [list(s) for s in seqs]), ".safetensors")
        if not path.exists():
            continue
        try:
            data = load_file(str(path))
        except Exception:
            continue
        if data["lengths"].tolist() == lengths and data["states"].shape[0] == sum(lengths):
            return below, list(torch.split(data["states"], lengths))
    return 0, None


def shared_option_scores(
    weights: str, model: Any, plan: Plan, *, batch_size: int = 8, pad_id: int = 0, chunk: int = CHUNK
) -> torch.Tensor:
    """``lm_scoring.score_plan(model, plan)`` [n_texts, n_labels], stored per chunk of texts on disk
    (zero-shot scores of a pattern whose options are not label-last, e.g. Su's P1/P2)."""
    n = len(plan.options)
    if not n:
        return torch.zeros(0, 0)
    chunks, keys = score_chunks(weights, plan, chunk)

    def build(k: int) -> dict[str, torch.Tensor]:
        c = chunks[k]
        sub = Plan(plan.prefix, [plan.options[i] for i in c], [plan.split[i] for i in c])
        return {"scores": score_plan(model, sub, batch_size, pad_id).contiguous()}

    def check(k: int, data: dict) -> bool:
        return "scores" in data and tuple(data["scores"].shape) == (len(chunks[k]), len(plan.options[0]))

    out = torch.zeros(n, len(plan.options[0]))
    for c, data in zip(chunks, cooperative_chunks("lm-scores", keys, build, check)):
        out[c] = data["scores"]
    return out
