"""A pretend CUDA device on the CPU, strict about device mixing: the GPU path's guard without a GPU.

Why: a track that builds a batch on the CPU and feeds it to a model on the GPU, calls ``.numpy()`` on
a GPU tensor, or never moves its model at all (and so trains on the CPU while its result says
``cuda``) passes every CPU test. Inside ``fake_cuda()`` such code fails as it would on a GPU, or is
counted, while all numbers are still computed on the CPU:

- ``.to("cuda")``, ``.cuda()``, ``device="cuda"`` in factory functions and ``Module.to("cuda")`` give
  CPU tensors tagged as CUDA; ``.cpu()`` gives an untagged copy; ``.device`` and ``.is_cuda`` answer
  as on a GPU; ``.numpy()`` of a tagged tensor raises as torch does.
- Every aten operation (forward, backward and optimizer steps alike, below autograd) propagates the
  tag and raises torch's "Expected all tensors to be on the same device" when it mixes a tagged
  tensor with an untagged one (0-dim CPU tensors may mix, as on a GPU; indexing and copies may too),
  and torch's generator error when a CPU generator draws numbers on the device.
- Matrix products, convolutions and embeddings on untagged tensors are counted (``report.cpu_ops``)
  unless they run inside ``harness.engine.context.cpu_part`` (a part a track declares CPU-only), so a
  track that silently stays on the CPU is caught too.
- ``torch.cuda`` answers as one GPU with ``FAKE_GPU_MEMORY`` bytes; synchronisation, caches and RNG
  state are no-ops, so harness code that talks to the device runs unchanged; CUDA events time with
  the host clock.
- Every point where a GPU run would wait for the device is counted (``report.syncs``): an explicit
  ``torch.cuda.synchronize`` or event wait, a scalar read of a device tensor (``.item()``, ``float``,
  ``bool``, ``int``), and a copy of one to the host (``.cpu()``, ``.to("cpu")``, ``.tolist()``). A
  training loop that reads the device every step is caught without a GPU (tests count per step).

Limits: it cannot emulate GPU kernels (numbers are CPU numbers) nor CUDA generators
(``torch.Generator("cuda")`` still fails, which the harness avoids on purpose: random draws come from
CPU generators, on the CPU, and are moved, so both devices see the same ones).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

TAG = "_kexue_fake_cuda"
FAKE_GPU_MEMORY = 80 * 1024**3
FAKE_DEVICE = torch.device("cuda", 0)
# Operations that may mix devices on a real GPU: copies between devices, and indices of advanced indexing.
COPIES = {"copy_", "_to_copy", "set_"}
INDEXING = {"index", "_unsafe_index", "index_put", "index_put_", "_index_put_impl_"}
IN_PLACE_MOVES = {"copy_", "set_", "index_put_", "_index_put_impl_"}
# The work a track must do on the device: a product or convolution on untagged tensors is CPU work.
HEAVY = {"mm", "addmm", "bmm", "baddbmm", "addmv", "mv", "convolution", "embedding", "_scaled_dot_product_attention"}
_state = threading.local()


@dataclass
class GuardReport:
    """What the guard saw: heavy CPU operations outside declared CPU parts, and device operations."""

    cpu_ops: Counter = field(default_factory=Counter)
    device_ops: int = 0
    allocated: int = 0  # bytes of device tensors made since the last reset_peak_memory_stats
    syncs: Counter = field(default_factory=Counter)  # waits for the device, by kind (module doc)

    def reset(self) -> None:
        self.cpu_ops.clear()
        self.device_ops = 0
        self.allocated = 0
        self.syncs.clear()

    @property
    def sync_count(self) -> int:
        return sum(self.syncs.values())


def is_tagged(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.__dict__.get(TAG, False)


def _tag(out: Any, value: bool = True) -> Any:
    for t in tree_flatten(out)[0]:
        if isinstance(t, torch.Tensor):
            t.__dict__[TAG] = value
    return out


def _is_cuda(device: Any) -> bool:
    if device is None:
        return False
    if isinstance(device, int):  # a bare index names a CUDA device
        return True
    return torch.device(device).type == "cuda"


def _op_name(func: Any) -> str:
    return func._schema.name.split("::")[-1] if hasattr(func, "_schema") else str(func)


def _in_cpu_part() -> bool:
    from harness.engine.context import in_cpu_part

    return in_cpu_part()


class _Dispatch(TorchDispatchMode):
    """Below autograd: checks and propagates the tag through every aten operation."""

    def __init__(self, report: GuardReport):
        super().__init__()
        self.report = report

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = _op_name(func)
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        on_gpu = any(is_tagged(t) for t in tensors)
        _check_mix(name, args, tensors)
        if name in INDEXING and args:  # the result lives where the indexed tensor does
            on_gpu = is_tagged(args[0])
        device_kw = kwargs.get("device")
        if device_kw is not None and _is_cuda(device_kw):
            kwargs = {**kwargs, "device": torch.device("cpu")}
            on_gpu = True
        elif not tensors:  # a factory inside a call on device tensors (e.g. a mask in a composite op)
            stack = getattr(_state, "calls", [])
            on_gpu = bool(stack and stack[-1])
        if on_gpu and any(isinstance(g, torch.Generator) for g in (*args, *kwargs.values())):
            raise RuntimeError(  # a CPU generator drawing GPU numbers: torch refuses it on a GPU
                f"Expected a 'cuda' device type for generator but found 'cpu' (fake-CUDA guard, in aten.{name})"
            )
        if name == "_local_scalar_dense" and on_gpu:
            self.report.syncs["scalar read"] += 1
        out = func(*args, **kwargs)
        if name in HEAVY:
            if on_gpu:
                self.report.device_ops += 1
            elif not _in_cpu_part():
                self.report.cpu_ops[name] += 1
        if name in IN_PLACE_MOVES:
            return out  # the destination keeps its own device
        if on_gpu:
            _tag(out)
            self.report.allocated += sum(t.nbytes for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
        return out


def _check_mix(name: str, args: Any, tensors: list[torch.Tensor]) -> None:
    """Raise torch's device-mismatch error where a GPU would: CPU scalars mix with anything, copies
    move between devices, and an index may stay on the CPU (but not index a CPU tensor from the GPU)."""
    if name in COPIES:
        return
    if name in INDEXING and args:
        self_tagged = is_tagged(args[0])
        checked = [args[0]] + ([args[2]] if name != "index" and len(args) > 2 else [])
        index = [t for t in tree_flatten(args[1])[0] if isinstance(t, torch.Tensor)] if len(args) > 1 else []
        if not self_tagged and any(is_tagged(t) for t in index):
            _mismatch(f"aten.{name}: indices on cuda:0 for a tensor on the cpu")
        tensors = [t for t in checked if isinstance(t, torch.Tensor)]
    if any(is_tagged(t) for t in tensors) and any(not is_tagged(t) and t.dim() > 0 for t in tensors):
        _mismatch(f"aten.{name}")


def _mismatch(where: str) -> None:
    raise RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu! "
        f"(fake-CUDA guard, in {where})"
    )


class _Functions(TorchFunctionMode):
    """Above autograd: device moves, device queries and conversions that torch checks in Python."""

    def __init__(self, report: GuardReport):
        super().__init__()
        self.report = report

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        owner = getattr(getattr(func, "__self__", None), "__name__", "")
        first = args[0] if args else None
        if name == "__get__" and owner in ("device", "is_cuda", "is_cpu"):
            real = func(*args, **kwargs)
            if not is_tagged(first):
                return real
            return {"device": FAKE_DEVICE, "is_cuda": True, "is_cpu": False}[owner]
        if name == "__set__" and owner == "data":
            func(*args, **kwargs)
            _tag(first, is_tagged(args[1]))
            return None
        if name in ("to", "cuda", "cpu") and isinstance(first, torch.Tensor):
            return self._move(func, name, first, args[1:], kwargs)
        if name == "tolist" and is_tagged(first):
            self.report.syncs["copy to host"] += 1
        if name == "numpy" and is_tagged(first):
            raise TypeError(
                "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory "
                "first. (fake-CUDA guard)"
            )
        if name == "pin_memory":
            return first
        if name == "get_device" and isinstance(first, torch.Tensor):
            return 0 if is_tagged(first) else -1
        to_gpu = "device" in kwargs and _is_cuda(kwargs["device"])
        if to_gpu:
            kwargs = {**kwargs, "device": "cpu"}
        tagged_in = to_gpu or any(is_tagged(t) for t in tree_flatten((args, kwargs))[0])
        stack = _state.__dict__.setdefault("calls", [])
        stack.append(tagged_in)
        try:
            out = func(*args, **kwargs)
        finally:
            stack.pop()
        return _tag(out) if to_gpu else out

    def _move(self, func: Any, name: str, t: torch.Tensor, rest: tuple, kwargs: dict) -> Any:
        if name == "cpu":
            target: Any = "cpu"
            dtype = None
        elif name == "cuda":
            target, dtype = FAKE_DEVICE, None
        else:
            if rest and isinstance(rest[0], torch.Tensor):
                target, dtype = (FAKE_DEVICE if is_tagged(rest[0]) else "cpu"), rest[0].dtype
            else:
                target, dtype, _, _ = torch._C._nn._parse_to(*rest, **kwargs)
        if target is None:  # a dtype change: stays where it is
            out = func(t, *rest, **kwargs)
            return _tag(out, is_tagged(t)) if out is not t else out
        to_gpu = _is_cuda(target)
        if not to_gpu and is_tagged(t):
            self.report.syncs["copy to host"] += 1
        if to_gpu == is_tagged(t):
            return t if dtype in (None, t.dtype) else _tag(t.to(dtype=dtype), to_gpu)
        out = t.to(dtype=dtype) if dtype not in (None, t.dtype) else t.clone()
        if to_gpu:
            self.report.allocated += out.nbytes
        return _tag(out, to_gpu)


class _FakeEvent:
    """``torch.cuda.Event`` on the host clock; waiting on one is a counted sync."""

    def __init__(self, report: GuardReport, enable_timing: bool = False, **_: Any):
        self.report, self.at = report, None

    def record(self, stream: Any = None) -> None:
        self.at = time.perf_counter()

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        self.report.syncs["event wait"] += 1

    def elapsed_time(self, end: _FakeEvent) -> float:
        return (end.at - self.at) * 1000.0


def _device_groups(stack: ExitStack) -> None:
    """Gradient clipping groups gradients by their real device (the CPU here) and moves its scale
    there, which would count as a copy to the host; a GPU groups them on the GPU: say so."""
    import torch.nn.utils.clip_grad as clip_grad

    group = clip_grad._group_tensors_by_device_and_dtype

    def on_fake_device(tensorlists: Any, *args: Any, **kwargs: Any) -> Any:
        out = group(tensorlists, *args, **kwargs)
        return {
            ((FAKE_DEVICE, dtype) if is_tagged(lists[0][0]) else (device, dtype)): (lists, idx)
            for (device, dtype), (lists, idx) in out.items()
        }

    stack.enter_context(mock.patch.object(clip_grad, "_group_tensors_by_device_and_dtype", on_fake_device))


def _cuda_patches(stack: ExitStack, report: GuardReport) -> None:
    """``torch.cuda`` as one GPU: what the harness asks of it (never a kernel)."""
    gib = FAKE_GPU_MEMORY

    def synchronize(*a: Any, **k: Any) -> None:
        report.syncs["synchronize"] += 1

    props = mock.Mock(total_memory=gib, major=9, minor=0, multi_processor_count=132)
    props.name = "fake-cuda (CPU)"
    rng = torch.zeros(16, dtype=torch.uint8)
    for attr, value in {
        "is_available": lambda: True,
        "device_count": lambda: 1,
        "synchronize": synchronize,
        "Event": lambda *a, **k: _FakeEvent(report, *a, **k),
        "empty_cache": lambda: None,
        "is_initialized": lambda: True,
        "current_device": lambda: 0,
        "get_device_name": lambda *a: props.name,
        "get_device_properties": lambda *a: props,
        "get_device_capability": lambda *a: (props.major, props.minor),
        "is_bf16_supported": lambda *a, **k: True,
        "mem_get_info": lambda *a: (gib, gib),
        "max_memory_allocated": lambda *a: report.allocated,
        "memory_allocated": lambda *a: report.allocated,
        "reset_peak_memory_stats": lambda *a: setattr(report, "allocated", 0),
        "set_device": lambda *a: None,
        "get_rng_state": lambda *a, **k: rng.clone(),
        "set_rng_state": lambda *a, **k: None,
        "manual_seed": lambda *a: None,
        "manual_seed_all": lambda *a: None,
    }.items():
        stack.enter_context(mock.patch(f"torch.cuda.{attr}", value))


@contextmanager
def fake_cuda() -> Iterator[GuardReport]:
    """Run the body with a pretend CUDA device; yields the report of CPU work seen (see module doc)."""
    report = GuardReport()
    with ExitStack() as stack:
        _cuda_patches(stack, report)
        _device_groups(stack)
        stack.enter_context(_Functions(report))
        stack.enter_context(_Dispatch(report))
        yield report


def untag(tree: Any) -> Any:
    """Tensors of ``tree`` as plain CPU tensors (for tests comparing against CPU runs)."""
    return tree_map(lambda t: _tag(t.clone(), False) if is_tagged(t) else t, tree)
