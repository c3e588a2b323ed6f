"""Exact IGR checks on the two-parameter model E(a, b) = 1/2 (y - a b x)^2 (Barrett & Dherin 2021).

(1) Backward-error rate: GD with step h stays O(h^2)-close to the gradient flow of the modified
loss E + (h/4)||grad E||^2 but only O(h)-close to the flow of E.
(2) Flat minima: from the same start, larger h ends at a flatter (smaller a^2 + b^2), more
balanced (smaller |a - b|) global minimum.

Pure numpy, deterministic, seconds: these are the sharp checks behind the deep-net track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def grad_e(theta: np.ndarray, x: float = 1.0, y: float = 1.0) -> np.ndarray:
    a, b = theta
    r = y - a * b * x
    return np.array([-r * b * x, -r * a * x])


def grad_modified(theta: np.ndarray, h: float, x: float = 1.0, y: float = 1.0) -> np.ndarray:
    """Gradient of E + (h/4)||grad E||^2, with ||grad E||^2 = r^2 x^2 (a^2 + b^2)."""
    a, b = theta
    r = y - a * b * x
    s = a * a + b * b
    g_pen = np.array([-2 * r * b * x**3 * s + 2 * a * r * r * x * x, -2 * r * a * x**3 * s + 2 * b * r * r * x * x])
    return grad_e(theta, x, y) + (h / 4.0) * g_pen


def gd_path(theta0: np.ndarray, h: float, steps: int, x: float = 1.0, y: float = 1.0) -> np.ndarray:
    out = [np.array(theta0, float)]
    th = out[0].copy()
    for _ in range(steps):
        th = th - h * grad_e(th, x, y)
        out.append(th.copy())
    return np.array(out)


def flow_path(theta0: np.ndarray, grad, t_end: float, every: float, substeps: int = 40) -> np.ndarray:
    """RK4 integration of d theta/dt = -grad(theta), sampled every ``every`` time units."""
    n = int(round(t_end / every))
    dt = every / substeps
    th = np.array(theta0, float)
    out = [th.copy()]
    for _ in range(n):
        for _ in range(substeps):
            k1 = -grad(th)
            k2 = -grad(th + 0.5 * dt * k1)
            k3 = -grad(th + 0.5 * dt * k2)
            k4 = -grad(th + dt * k3)
            th = th + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(th.copy())
    return np.array(out)


@dataclass
class BackwardErrorRow:
    h: float
    err_plain: float  # max distance of GD to the flow of E
    err_modified: float  # max distance of GD to the flow of E + (h/4)||grad E||^2

    @property
    def ratio(self) -> float:
        return self.err_plain / self.err_modified


def backward_error(
    hs=(0.01, 0.02, 0.05, 0.1), t_end: float = 2.0, theta0=(0.4 * 2.8, 0.4 * 3.5)
) -> list[BackwardErrorRow]:
    rows = []
    for h in hs:
        steps = int(round(t_end / h))
        gd = gd_path(np.array(theta0), h, steps)
        plain = flow_path(np.array(theta0), grad_e, t_end, h)
        modified = flow_path(np.array(theta0), lambda th, h=h: grad_modified(th, h), t_end, h)
        rows.append(
            BackwardErrorRow(
                h,
                float(np.max(np.linalg.norm(gd - plain, axis=1))),
                float(np.max(np.linalg.norm(gd - modified, axis=1))),
            )
        )
    return rows


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of log y against log x: the empirical order of convergence."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


@dataclass
class MinimumRow:
    h: float  # 0.0 means the gradient flow
    a: float
    b: float

    @property
    def sharpness(self) -> float:
        return self.a**2 + self.b**2

    @property
    def imbalance(self) -> float:
        return abs(self.a - self.b)


def flat_minima(hs=(0.01, 0.03, 0.05, 0.07, 0.08), t_end: float = 200.0, theta0=(2.8, 3.5)) -> list[MinimumRow]:
    """End points of gradient flow (h=0) and of GD at each h after the same physical time."""
    end = flow_path(np.array(theta0), grad_e, t_end, t_end, substeps=20000)[-1]
    rows = [MinimumRow(0.0, float(end[0]), float(end[1]))]
    for h in hs:
        th = gd_path(np.array(theta0), h, int(round(t_end / h)))[-1]
        rows.append(MinimumRow(h, float(th[0]), float(th[1])))
    return rows
