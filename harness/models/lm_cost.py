"""What causal-LM work costs: seconds per component from the FLOPs it does, at rates fitted on measured
components, and a meter that charges the same work as it happens.

Why one model for every component: an estimate that was right on one block was 3.9x high on a block of
another size and 5.3x low on a cold cache (issue 29), because per-cell constants stood for work whose
amount changes with the block (tokens per text, states already on disk, steps that patience cuts, the
depth of the trained top). Here each component's work is counted from the block (FLOPs: 2 x tokens x
parameters per layer run; the output layer only where it is read) and priced at its own rate:

* ``forward``: a packed forward without gradients (state building, scoring, validation and test passes);
* ``train``: the trained top layers' forward and backward: 2 x the forward FLOPs when only LoRA adapters
  train (the frozen weights need the gradient of their input, not their own), 3 x for whole weights;
* ``head`` / ``head_train``: the output layer (vocabulary x hidden) at the positions read, forward / with
  backward (2 x: it is frozen): at a few rows it runs far below the matmul peak, so it has its own rate;
* ``step_s``: a training step's fixed overhead (optimizer, Python); ``generate_s``: one sampled token
  through the whole model with its key/value cache (scaled by parameters); ``load_s``: loading a backbone of
  Qwen-0.5B's size (scaled by parameters); ``folder_s``: building the fp32 folder from the GGUF once.

Rates were fitted on measured components (``benchmarks/bench_lm_costs.py``, Qwen2.5-0.5B fp32, one
thread, the 2-core machine's other core busy: docs/tracks/fewshot.md) and checked on whole blocks they
were not fitted on, cold and warm (``benchmarks/check_lm_estimates.py``); the tests check the work
counts against a fake clock that charges what the code actually ran (``meter``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rates:
    """Fitted on ``python benchmarks/bench_lm_costs.py`` (Qwen2.5-0.5B fp32, one thread, the other core busy
    with a test run, load ~2 as under ``-j 2``; medians of 3; 2026-12-07, issue 29): forward 79.2 GFLOP/s
    (states, packed, 16 texts a row); train 66.4 (a LoRA top-2 step; top-1 steps are mostly ``step_s``);
    head 59.7 (64 rows); head_train 62.8 (60 rows, the weight frozen as in training: the fit before timed
    the weight's gradient too, 28.3, and overestimated head-bound cells ~1.5x); a step's fixed part
    0.0125 s; one sampled token 0.128 s (the weights are read once per step whatever the batch: a single
    reply's token costs as much); load 4.6 s + imports; the fp32 folder from the GGUF 85 s (wall, idle)."""

    forward: float = 79.2e9  # FLOP/s
    train: float = 66.4e9
    head: float = 59.7e9
    head_train: float = 62.8e9
    step_s: float = 0.0125
    generate_s: float = 0.13  # one decoding step of the whole model (memory-bound: all weights read)
    load_s: float = 7.5
    folder_s: float = 85.0


RATES = Rates()
QWEN_PARAMETERS = 630_167_424


@dataclass(frozen=True)
class Sizes:
    """What the FLOP counts need of a backbone: parameters per decoder layer, of its key and value maps
    (computed at every position even where a layer's output is read at a few), of the output layer."""

    layer: int
    kv: int
    head: int
    layers: int
    parameters: int

    @classmethod
    def of(cls, shape: Any) -> Sizes:
        layer = (shape.parameters - 2 * shape.vocab * shape.hidden) // shape.layers
        kv = 2 * shape.hidden * max(shape.hidden // 7, 1)  # Qwen2.5-0.5B: 2 key/value heads of 64 = hidden / 7
        return cls(layer, kv, shape.vocab * shape.hidden, shape.layers, shape.parameters)


def forward_flops(sizes: Sizes, tokens: float, layers: int) -> float:
    return 2.0 * tokens * layers * sizes.layer


def top_flops(sizes: Sizes, tokens: float, read: float, depth: int) -> float:
    """FLOPs of ``depth`` top layers over ``tokens`` packed tokens whose output is read at ``read`` positions:
    the last layer runs its keys and values everywhere, the rest of it only at the read positions."""
    last = 2.0 * (tokens * sizes.kv + read * (sizes.layer - sizes.kv))
    return forward_flops(sizes, tokens, depth - 1) + last


def seconds(component: str, flops: float, rates: Rates | None = None) -> float:
    return flops / getattr(rates or RATES, component)


def load_seconds(sizes: Sizes, rates: Rates | None = None) -> float:
    """Loading a backbone: ``load_s`` at Qwen-0.5B's size, in proportion below it (a tenth at least)."""
    return _load(sizes.parameters, rates or RATES)


def _load(parameters: int, rates: Rates) -> float:
    return rates.load_s * max(0.1, min(1.0, parameters / QWEN_PARAMETERS))


# --- the meter ----------------------------------------------------------------------------------------
@dataclass
class Meter:
    """Work charged by the code as it runs (FLOPs per component, steps, loads); ``seconds()`` prices it."""

    flops: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    loads: list[int] = field(default_factory=list)  # parameters of each backbone loaded
    folders: int = 0
    decodes: float = 0.0  # decoding steps, in Qwen-0.5B-sized units (parameters / QWEN_PARAMETERS)

    def seconds(self, rates: Rates | None = None) -> float:
        rates = rates or RATES
        total = sum(seconds(c, f, rates) for c, f in self.flops.items()) + self.steps * rates.step_s
        total += sum(_load(p, rates) for p in self.loads)
        return total + self.folders * rates.folder_s + self.decodes * rates.generate_s


_active = threading.local()


def charge(component: str, flops: float) -> None:
    """Record ``flops`` of ``component`` on the active meter (none outside ``metered``: a no-op)."""
    m = getattr(_active, "meter", None)
    if m is not None:
        m.flops[component] = m.flops.get(component, 0.0) + flops


def charge_step() -> None:
    m = getattr(_active, "meter", None)
    if m is not None:
        m.steps += 1


def charge_load(parameters: int) -> None:
    m = getattr(_active, "meter", None)
    if m is not None:
        m.loads.append(parameters)


def charge_decode(parameters: int) -> None:
    """One decoding step of a model of ``parameters`` (every weight read once, whatever the batch)."""
    m = getattr(_active, "meter", None)
    if m is not None:
        m.decodes += parameters / QWEN_PARAMETERS


def charge_folder() -> None:
    m = getattr(_active, "meter", None)
    if m is not None:
        m.folders += 1


@contextlib.contextmanager
def metered() -> Iterator[Meter]:
    """Count the causal-LM work done inside (this thread): the fake clock the cost model is tested on."""
    m = Meter()
    before = getattr(_active, "meter", None)
    _active.meter = m
    try:
        yield m
    finally:
        _active.meter = before


def backward_factor(module: Any) -> float:
    """Forward + backward FLOPs over forward FLOPs of a trained ``module``: 2 when only LoRA adapters train
    (frozen weights pass the gradient on, they need none), 3 when whole weights do."""
    trained = [n for n, p in module.named_parameters() if p.requires_grad]
    return 2.0 if trained and all("lora_" in n for n in trained) else 3.0


def charge_layers(layer: Any, tokens: int, layers: int, read: int | None, grad: bool) -> None:
    """Charge a packed run of ``layers`` decoder layers like ``layer`` over ``tokens`` tokens, the last one
    read at ``read`` positions (None: everywhere); ``grad``: a training pass (backward follows)."""
    if getattr(_active, "meter", None) is None or not layers:
        return
    attn = layer.self_attn
    sizes = Sizes(
        sum(p.numel() for n, p in layer.named_parameters() if "lora_" not in n),
        attn.k_proj.weight.numel() + attn.v_proj.weight.numel(),
        0,
        layers,
        0,
    )
    flops = forward_flops(sizes, tokens, layers) if read is None else top_flops(sizes, tokens, read, layers)
    charge("train" if grad else "forward", backward_factor(layer) * flops if grad else flops)


def charge_head(model: Any, positions: int, grad: bool) -> None:
    """Charge the output layer of ``model`` at ``positions`` positions."""
    if getattr(_active, "meter", None) is None:
        return
    flops = 2.0 * positions * model.config.vocab_size * model.config.hidden_size
    charge("head_train" if grad else "head", 2.0 * flops if grad else flops)
