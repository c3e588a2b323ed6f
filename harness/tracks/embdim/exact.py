"""Exact side of Su's word-vector dimension bound n > 8.33 ln N (post 7695).

With vectors spread uniformly on the sphere of radius sqrt(n), the entropy of the skip-gram joint
p(w_i, w_j) = exp<u_i, v_j> / Z is H ~= 2 ln N + h_n, where
    h_n = ln E[exp(n cos t)] - E[n cos t exp(n cos t)] / E[exp(n cos t)]
and t has density proportional to sin^(n-2) t on [0, pi]. Requiring H < 0 gives n > -2 ln N / (h_n/n).
h_n/n tends to -1/2 ln(phi) = -0.240606 (Laplace's method), so the exact constant is
2 / 0.240606 = 8.312; Su rounds the slope to 0.24 and writes 8.33. Both are reported.

Pure numpy, deterministic, well under a second: a midpoint rule in log space (log-sum-exp), since
exp(n cos t) overflows for the n of interest.
"""

from __future__ import annotations

import math

import numpy as np

# Su's table (post 7695): n -> h_n.
SU_TABLE: dict[int, float] = {
    32: -7.77471,
    64: -15.4734,
    96: -23.1726,
    128: -30.8718,
    256: -61.6692,
    512: -123.264,
}
SU_CONSTANT = 8.33
PHI = (1.0 + math.sqrt(5.0)) / 2.0
ASYMPTOTIC_SLOPE = -0.5 * math.log(PHI)  # -0.240606...


def _logsumexp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.sum(np.exp(a - m))))


def h_n(n: int, points: int = 200_000) -> float:
    """h_n by the midpoint rule on [0, pi] with ``points`` nodes (log-space, no overflow)."""
    if n < 2:
        raise ValueError(f"h_n needs n >= 2, got {n}")
    t = (np.arange(points) + 0.5) * (math.pi / points)
    log_w = (n - 2) * np.log(np.sin(t))
    a = log_w + n * np.cos(t)
    log_e = _logsumexp(a) - _logsumexp(log_w)
    p = np.exp(a - _logsumexp(a))
    return log_e - float(p @ (n * np.cos(t)))


def slope(n1: int = 2048, n2: int = 4096) -> float:
    """(h_{n2} - h_{n1}) / (n2 - n1): the linear coefficient of h_n at large n."""
    return (h_n(n2) - h_n(n1)) / (n2 - n1)


def constant(slope_value: float) -> float:
    """The constant c in n > c ln N implied by a slope: c = 2 / |slope|."""
    return 2.0 / abs(slope_value)


def min_dim(vocab: int, c: float = SU_CONSTANT) -> float:
    """Su's bound for a vocabulary of ``vocab`` words: c ln N (natural log)."""
    return c * math.log(vocab)


def entropy_estimate(vocab: int, n: int) -> float:
    """H ~= 2 ln N + h_n (Su's worked example: N = 1e5, n = 64 -> 7.55245)."""
    return 2.0 * math.log(vocab) + h_n(n)


def smallest_dim_with_negative_entropy(vocab: int) -> int:
    """The smallest n with 2 ln N + h_n < 0, found by bisection on the quadrature (h_n is decreasing)."""
    lo, hi = 2, 8
    while entropy_estimate(vocab, hi) >= 0:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if entropy_estimate(vocab, mid) < 0:
            hi = mid
        else:
            lo = mid
    return hi
