"""Exact checks of the weightreg track: weight-scale-shift invariance (Liu et al. 2020; Su 2020).

Pure functions of a small, seeded ReLU MLP, used by the unit tests and as report rows. The
penalties come from the registered methods (``method_recipe``), so the check exercises the same code
the training loop uses.
"""

from __future__ import annotations

from dataclasses import dataclass

GAMMAS = (3.0, 0.5, 1 / 1.5)  # product 1; the factors of the research note's pilot


@dataclass
class InvarianceReport:
    out_change: float  # max |f(x) - f_rescaled(x)|, biases scaled by the running product
    su_out_change: float  # same with Su's per-layer bias scaling b_l *= gamma_l
    out_scale: float  # typical |f(x)|, to read the changes against
    weissi_before: float
    weissi_after: float
    l2_before: float
    l2_after: float
    l2_balanced: float  # after the L2-minimal function-preserving shift
    balanced_norms: list[float]
    balanced_out_change: float


def invariance_report(
    seed: int = 0, gammas: tuple[float, ...] = GAMMAS, bias: bool = True, lam1: float = 1.0, lam2: float = 1.0
) -> InvarianceReport:
    """Rescale a 3-layer ReLU MLP (float64) by ``gammas`` three ways and measure what changes."""
    import copy

    import torch

    from harness.models.mlp import make_mlp, weight_parameters
    from harness.models.rescale import balance_, layer_norms, rescale_, su_rescale_
    from harness.registry import REGISTRY
    from harness.track import method_recipe

    weightreg = REGISTRY.get("track", "weightreg").load()  # not imported: the protocol imports these checks
    weissi = method_recipe(weightreg, "weissi", {"lam1": lam1, "lam2": lam2}).penalty
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_mlp(10, [32, 16], 5, bias=bias).double()
        if bias:  # default biases are small; make them clearly non-zero
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, torch.nn.Linear):
                        m.bias.normal_(0.0, 1.0, generator=g)
    x = torch.randn(64, 10, generator=g, dtype=torch.float64)

    def l2(m) -> float:
        return float(sum((w * w).sum() for w in weight_parameters(m)))

    with torch.no_grad():
        y = model(x)
        shifted = rescale_(copy.deepcopy(model), gammas)
        su = su_rescale_(copy.deepcopy(model), gammas)
        balanced = copy.deepcopy(model)
        balance_(balanced)
        return InvarianceReport(
            out_change=float((shifted(x) - y).abs().max()),
            su_out_change=float((su(x) - y).abs().max()),
            out_scale=float(y.abs().mean()),
            weissi_before=float(weissi(weight_parameters(model))),
            weissi_after=float(weissi(weight_parameters(shifted))),
            l2_before=l2(model),
            l2_after=l2(shifted),
            l2_balanced=l2(balanced),
            balanced_norms=layer_norms(balanced),
            balanced_out_change=float((balanced(x) - y).abs().max()),
        )


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def output_check() -> tuple[str, bool]:
    r = invariance_report()
    ok = r.out_change <= 1e-10 * max(r.out_scale, 1.0)
    return (
        f"max abs output change {r.out_change:.2g} (outputs ~{r.out_scale:.2g}; gammas "
        f"{', '.join(f'{g:.3g}' for g in GAMMAS)}, biases x running product)",
        ok,
    )


def su_bias_check() -> tuple[str, bool]:
    r = invariance_report()
    return (
        f"Su's b_l *= gamma_l changes the output by up to {r.su_out_change:.3g} with non-zero biases "
        f"(running-product scaling: {r.out_change:.2g})",
        r.su_out_change > 1e-3,
    )


def weissi_l2_check() -> tuple[str, bool]:
    r = invariance_report()
    ok = _rel(r.weissi_before, r.weissi_after) < 1e-12 and _rel(r.l2_before, r.l2_after) > 1e-3
    return (f"WEISSI {r.weissi_before:.9g} -> {r.weissi_after:.9g}; L2 {r.l2_before:.6g} -> {r.l2_after:.6g}", ok)


def balance_check() -> tuple[str, bool]:
    r = invariance_report()
    spread = max(r.balanced_norms) / min(r.balanced_norms) - 1
    ok = spread < 1e-12 and r.l2_balanced <= r.l2_before and r.balanced_out_change < 1e-10 * max(r.out_scale, 1)
    return (
        f"layer norms after the L2-minimal shift equal to {spread:.1g} (rel.); L2 {r.l2_before:.6g} -> "
        f"{r.l2_balanced:.6g}; output change {r.balanced_out_change:.2g}",
        ok,
    )
