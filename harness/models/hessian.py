"""The top eigenvalue of a loss Hessian by power iteration on Hessian-vector products.

Why: the sharpness that the theory of implicit regularisation and the edge of stability (Cohen et
al. 2021) talk about is lambda_max of the training-loss Hessian; GD with step h is stable near a
minimum only when lambda_max < 2/h. A Hessian-vector product costs about two backward passes and
never forms the Hessian, so on small MLPs a few dozen iterations cost a few dozen gradients.

Power iteration converges to the eigenvalue of largest magnitude. Near a minimum of a
cross-entropy loss that is the top (positive) eigenvalue; if it comes out negative, a second run
on H - lambda_1 I (whose dominant eigenvalue is lambda_max - lambda_1 >= 0) recovers lambda_max.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Eigen:
    value: float  # the eigenvalue estimate (Rayleigh quotient of the last iterate)
    iterations: int  # Hessian-vector products used (both runs when a shift was needed)
    converged: bool  # relative change between the last two estimates below the tolerance


def hvp_operator(
    loss: torch.Tensor, params: Sequence[torch.Tensor]
) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """v -> H v for the Hessian of ``loss`` in ``params`` (the graph of the gradient is kept once)."""
    grads = torch.autograd.grad(loss, list(params), create_graph=True)

    def apply(vec: list[torch.Tensor]) -> list[torch.Tensor]:
        dot = sum((g * v).sum() for g, v in zip(grads, vec))
        return [h.detach() for h in torch.autograd.grad(dot, list(params), retain_graph=True)]

    return apply


def _dot(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return float(sum((x * y).sum() for x, y in zip(a, b)))


def _power(
    apply: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    start: list[torch.Tensor],
    iters: int,
    tol: float,
    shift: float = 0.0,
) -> Eigen:
    norm = _dot(start, start) ** 0.5
    v = [x / norm for x in start]
    value, prev = 0.0, None
    for i in range(1, iters + 1):
        hv = apply(v)
        if shift:
            hv = [h - shift * x for h, x in zip(hv, v)]
        value = _dot(v, hv)  # Rayleigh quotient of the unit vector v
        size = _dot(hv, hv) ** 0.5
        if size == 0.0:  # v lies in the null space: the operator is zero along it
            return Eigen(value + shift, i, True)
        v = [h / size for h in hv]
        if prev is not None and abs(value - prev) <= tol * max(abs(value), 1e-12):
            return Eigen(value + shift, i, True)
        prev = value
    return Eigen(value + shift, iters, False)


def top_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    iters: int = 20,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
) -> Eigen:
    """lambda_max of the Hessian of ``loss_fn()`` in ``params`` by at most ``iters`` power steps.

    ``generator`` seeds the random start vector, so the estimate is reproducible.
    """
    params = list(params)
    apply = hvp_operator(loss_fn(), params)
    start = [torch.randn(p.shape, generator=generator, device="cpu").to(p.device, p.dtype) for p in params]
    first = _power(apply, start, iters, tol)
    if first.value >= 0:
        return first
    # The dominant eigenvalue was negative: iterate on H - lambda_1 I to find the top one.
    second = _power(apply, start, iters, tol, shift=first.value)
    return Eigen(second.value, first.iterations + second.iterations, second.converged)
