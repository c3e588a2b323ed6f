"""The top eigenvalue of a loss Hessian by power iteration on Hessian-vector products.

Why: the sharpness that the theory of implicit regularisation and the edge of stability (Cohen et
al. 2021) talk about is lambda_max of the training-loss Hessian; GD with step h is stable near a
minimum only when lambda_max < 2/h. A Hessian-vector product costs about two backward passes and
never forms the Hessian, so on small MLPs a few dozen iterations cost a few dozen gradients.

Power iteration converges to the eigenvalue of largest magnitude. Near a minimum of a
cross-entropy loss that is the top (positive) eigenvalue; if it comes out negative, a second run
on H - lambda_1 I (whose dominant eigenvalue is lambda_max - lambda_1 >= 0) recovers lambda_max.

``top_eigenvalues`` does this for K stacked models at once (``harness.models.stacked``): the summed
loss of the members has a block-diagonal Hessian (no parameter of one member enters another's loss),
so one Hessian-vector product of the sum applies every member's Hessian to its own block. Each
member keeps its own start vector (its own generator), normalisation, Rayleigh quotient, shift and
convergence; the host reads two numbers per member per iteration. ``top_eigenvalue`` is its case of
one model, with the same operations as a loop written for one model.
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


def _member_dots(
    a: list[torch.Tensor], b: list[torch.Tensor], c: list[torch.Tensor]
) -> tuple[list[float], list[float]]:
    """Per member (leading axis): <a, b> and <c, c>, read in one transfer."""
    ab = sum((x * y).flatten(1).sum(1) for x, y in zip(a, b))
    cc = sum((x * x).flatten(1).sum(1) for x in c)
    both = torch.stack([ab, cc]).tolist()
    return both[0], both[1]


def _per_member(values: list[float], like: torch.Tensor) -> float | torch.Tensor:
    """One number per member for an elementwise operation: the number itself when every member shares
    it (exactly a single model's operation), else a tensor broadcasting over ``like``'s member axis."""
    if all(v == values[0] for v in values):
        return values[0]
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * (like.dim() - 1)))


def _power(
    apply: Callable[[list[torch.Tensor]], list[torch.Tensor]],
    start: list[torch.Tensor],
    iters: int,
    tol: float,
    shift: list[float],
) -> list[Eigen]:
    """Power iteration per member on vectors with a leading member axis (``apply``: v -> H v blockwise)."""
    members = start[0].shape[0]
    norm = [d**0.5 for d in _member_dots(start, start, start)[0]]
    v = [x / _per_member(norm, x) for x in start]
    value = [0.0] * members
    prev: list[float | None] = [None] * members
    found: list[Eigen | None] = [None] * members
    for i in range(1, iters + 1):
        hv = apply(v)
        if any(shift):
            hv = [h - _per_member(shift, x) * x for h, x in zip(hv, v)]
        dots, squares = _member_dots(v, hv, hv)
        sizes = [q**0.5 for q in squares]
        for k in range(members):
            if found[k] is not None:
                continue
            value[k] = dots[k]  # Rayleigh quotient of the unit vector v
            if sizes[k] == 0.0:  # v lies in the null space: the operator is zero along it
                found[k] = Eigen(value[k] + shift[k], i, True)
            elif prev[k] is not None and abs(value[k] - prev[k]) <= tol * max(abs(value[k]), 1e-12):
                found[k] = Eigen(value[k] + shift[k], i, True)
            prev[k] = value[k]
        if all(f is not None for f in found):
            break
        v = [h / _per_member([q if q > 0 else 1.0 for q in sizes], h) for h in hv]
    return [f if f is not None else Eigen(value[k] + shift[k], iters, False) for k, f in enumerate(found)]


def _top(apply: Callable[[list[torch.Tensor]], list[torch.Tensor]], start: list[torch.Tensor], iters: int, tol: float):
    members = start[0].shape[0]
    first = _power(apply, start, iters, tol, [0.0] * members)
    negative = [e.value < 0 for e in first]
    if not any(negative):
        return first
    # A dominant eigenvalue was negative: iterate on H - lambda_1 I to find the top one.
    second = _power(apply, start, iters, tol, [e.value if neg else 0.0 for e, neg in zip(first, negative)])
    return [
        Eigen(b.value, a.iterations + b.iterations, b.converged) if neg else a
        for a, b, neg in zip(first, second, negative)
    ]


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
    hvp = hvp_operator(loss_fn(), params)
    start = [torch.randn(p.shape, generator=generator, device="cpu").to(p.device, p.dtype)[None] for p in params]
    return _top(lambda vec: [h[None] for h in hvp([x[0] for x in vec])], start, iters, tol)[0]


def top_eigenvalues(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    generators: Sequence[torch.Generator],
    iters: int = 20,
    tol: float = 1e-3,
) -> list[Eigen]:
    """lambda_max of each of K stacked models: ``params`` have a leading member axis, ``loss_fn()``
    returns the K members' losses, ``generators[k]`` seeds member k's start vector (as
    ``top_eigenvalue`` would for that model alone)."""
    params = list(params)
    hvp = hvp_operator(loss_fn().sum(), params)
    draws = [[torch.randn(p.shape[1:], generator=g, device="cpu") for p in params] for g in generators]
    start = [torch.stack([d[i] for d in draws]).to(p.device, p.dtype) for i, p in enumerate(params)]
    return _top(hvp, start, iters, tol)
