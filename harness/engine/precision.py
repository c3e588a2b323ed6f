"""The floating-point mode a cell trains in: ``fp32`` (default), ``tf32`` or ``bf16``.

Why a setting, and why fp32 by default: GPU results must compare with CPU results, and both of the
faster modes change the numbers. ``fp32`` turns TF32 off for matrix products and convolutions on the
GPU (cuDNN enables it for convolutions by default), so a GPU run computes what the CPU computes, up to
summation order. ``tf32`` lets NVIDIA tensor cores (compute capability 8.0+, Ampere and later) round
the inputs of products to a 10-bit mantissa; the CPU has no such mode. ``bf16`` runs each cell under
``torch.autocast`` to bfloat16 (weights and optimizer state stay fp32): GPUs need native bf16
(compute capability 8.0+), CPUs need oneDNN's bf16 kernels (AVX512 or AMX), since elsewhere torch
would emulate it at a fraction of fp32's speed.

Any mode may add ``+channels-last`` (e.g. ``bf16+channels-last``): the convolutional paper networks
(``harness.models.resnet``) then keep weights and batches in NHWC memory order, which tensor-core
convolution kernels prefer (PyTorch's channels-last guide: the layout cuDNN's NHWC kernels read
without a transpose); models without convolutions ignore it. It changes which kernels run, so it is
part of the run key like any other mode.

A precision other than fp32 is part of a cell's run key (``harness.engine.cell``) and of its provenance, so
results of different precisions are never mixed. Checked before any cell runs (``check_precision``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import HarnessError

PRECISIONS = ("fp32", "tf32", "bf16")
CHANNELS_LAST = "+channels-last"


def split_precision(precision: str) -> tuple[str, bool]:
    """(the floating-point mode, whether convolutions run channels-last) of a ``--precision`` value."""
    if precision.endswith(CHANNELS_LAST):
        return precision[: -len(CHANNELS_LAST)], True
    return precision, False


def channels_last(precision: str) -> bool:
    """Whether ``precision`` asks the convolutional networks for NHWC memory order."""
    return split_precision(precision)[1]


def check_precision_name(precision: str) -> None:
    """A one-line error for an unknown precision (imports nothing)."""
    if split_precision(precision)[0] not in PRECISIONS:
        raise HarnessError(
            f"--precision must be one of {', '.join(PRECISIONS)}, optionally with {CHANNELS_LAST} "
            f"(e.g. bf16{CHANNELS_LAST}), got {precision!r}"
        )


def _capability(device: str) -> tuple[int, int]:
    import torch

    return torch.cuda.get_device_capability(torch.device(device))


def check_precision(precision: str, device: str) -> None:
    """Refuse, in one line, a precision that ``device`` (a resolved ``cpu`` or ``cuda[:N]``) cannot run."""
    check_precision_name(precision)
    precision = split_precision(precision)[0]
    if precision == "fp32":
        return
    import torch

    on_gpu = device.startswith("cuda")
    if precision == "tf32":
        if not on_gpu:
            raise HarnessError(
                "--precision tf32 is a mode of NVIDIA tensor cores (compute capability 8.0+); the CPU has none "
                "(use fp32 or bf16)"
            )
        major, minor = _capability(device)
        if major < 8:
            name = torch.cuda.get_device_name(torch.device(device))
            raise HarnessError(
                f"--precision tf32 needs compute capability 8.0+ (Ampere or later); {device} ({name}) has "
                f"{major}.{minor} (use fp32)"
            )
        return
    if on_gpu:
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            name = torch.cuda.get_device_name(torch.device(device))
            raise HarnessError(f"--precision bf16: {device} ({name}) has no native bfloat16 support (use fp32)")
    elif not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        raise HarnessError(
            "--precision bf16: this CPU has no bfloat16 kernels (oneDNN needs AVX512 or AMX); torch would "
            "emulate it slower than fp32 (use fp32)"
        )


@contextmanager
def precision_scope(precision: str, device: str) -> Iterator[None]:
    """Run a cell's body in ``precision`` on ``device``; the TF32 switches are set for every cell (a
    worker runs cells of one run, but never inherits a previous cell's mode)."""
    import torch

    precision = split_precision(precision)[0]
    on_gpu = device.startswith("cuda")
    if on_gpu:
        tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    if precision != "bf16":
        yield
        return
    with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=torch.bfloat16):
        yield
