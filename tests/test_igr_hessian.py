"""lambda_max by power iteration on Hessian-vector products, against eigenvalues formed exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.models.hessian import top_eigenvalue
from harness.models.mlp import make_mlp


def _quadratic(eigs: list[float], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A symmetric matrix with the given spectrum (random rotation) and a parameter to differentiate."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigs), len(eigs), generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
    return a, torch.randn(len(eigs), generator=g, dtype=torch.float64, requires_grad=True)


def test_quadratic_top_eigenvalue():
    a, x = _quadratic([5.0, 3.0, 1.0, 0.5, -0.2])
    eig = top_eigenvalue(lambda: 0.5 * x @ a @ x, [x], iters=200, tol=1e-10, generator=torch.Generator().manual_seed(1))
    assert eig.converged
    assert eig.value == pytest.approx(5.0, rel=1e-6)


def test_negative_dominant_eigenvalue_is_shifted_away():
    """When the largest-magnitude eigenvalue is negative, the shifted run still finds lambda_max."""
    a, x = _quadratic([-6.0, 2.0, 1.0, 0.3])
    eig = top_eigenvalue(lambda: 0.5 * x @ a @ x, [x], iters=500, tol=1e-12, generator=torch.Generator().manual_seed(2))
    assert eig.value == pytest.approx(2.0, rel=1e-4)


def test_tiny_mlp_matches_the_explicit_hessian():
    """A 4-6-3 MLP: form its full Hessian with autograd, compare the top eigenvalue."""
    torch.manual_seed(0)
    model = make_mlp(4, 6, 3, depth=1).double()
    x = torch.randn(20, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (20,))
    params = list(model.parameters())
    # train a few steps so the point is not the (nearly flat) initialisation
    for _ in range(50):
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(0.5 * g)
    shapes = [p.shape for p in params]
    flat0 = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        out, i = x, 0
        ws = []
        for s in shapes:
            n = int(torch.tensor(s).prod())
            ws.append(flat[i : i + n].reshape(s))
            i += n
        out = torch.relu(out @ ws[0].T + ws[1])
        return F.cross_entropy(out @ ws[2].T + ws[3], y)

    exact = float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat0)).max())
    eig = top_eigenvalue(
        lambda: F.cross_entropy(model(x), y), params, iters=300, tol=1e-9, generator=torch.Generator().manual_seed(3)
    )
    assert exact > 0
    assert eig.value == pytest.approx(exact, rel=1e-4)


def test_default_budget_is_close_on_the_mlp():
    """The track's default (20 iterations, tol 1e-3) lands within a few percent of the converged value."""
    torch.manual_seed(1)
    model = make_mlp(10, 16, 4, depth=2)
    x, y = torch.randn(64, 10), torch.randint(0, 4, (64,))
    params = list(model.parameters())
    for _ in range(100):
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(0.3 * g)
    fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
    ref = top_eigenvalue(fn, params, iters=500, tol=1e-9, generator=torch.Generator().manual_seed(0)).value
    est = top_eigenvalue(fn, params, iters=20, tol=1e-3, generator=torch.Generator().manual_seed(0)).value
    assert est <= ref * (1 + 1e-6)  # a Rayleigh quotient never exceeds lambda_max
    assert est == pytest.approx(ref, rel=0.05)
