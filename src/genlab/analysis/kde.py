"""The curse of dimensionality of kernel density estimation (seed section 1.1.2).

Target p = N(0, I_d), Gaussian kernel K_h = N(0, h^2 I_d), p_hat(x) = (1/n) sum_i K_h(x - x_i). Because
everything is Gaussian, both the integrated squared error of one estimate and its expectation (MISE) have
closed forms, so the Monte-Carlo points of the figure are checked against an exact curve:

  ISE = int p_hat^2 - 2 int p_hat p + int p^2
      = (1/n^2) sum_ij N(x_i - x_j; 0, 2h^2 I) - (2/n) sum_i N(x_i; 0, (1+h^2) I) + (4 pi)^{-d/2}
  MISE = (4 pi h^2)^{-d/2} / n + (1 - 1/n)(4 pi (1+h^2))^{-d/2} - 2 (2 pi (2+h^2))^{-d/2} + (4 pi)^{-d/2}

With the AMISE-optimal bandwidth h = (4 / ((d+2) n))^{1/(d+4)} the error falls as n^{-4/(d+4)}, so an
error eps needs n = O(eps^{-(d+4)/4}) samples: the exponent grows linearly with d. Errors are reported
relative to int p^2, so they are comparable across d."""

from __future__ import annotations

import math

import numpy as np
import torch


def optimal_bandwidth(n: int, d: int) -> float:
    """AMISE-optimal bandwidth for a normal target and a normal kernel (Silverman's normal reference)."""
    return (4.0 / ((d + 2) * n)) ** (1.0 / (d + 4))


def _normal_at(sq_norm: torch.Tensor, variance: float, d: int) -> torch.Tensor:
    return torch.exp(-0.5 * sq_norm / variance) / (2 * math.pi * variance) ** (d / 2)


def ise(samples: torch.Tensor, h: float) -> float:
    """Integrated squared error of the KDE of ``samples`` (n, d) against N(0, I_d), in closed form."""
    x = samples.double()
    n, d = x.shape
    pair_sum = 0.0
    for start in range(0, n, 1024):  # n^2 pairs in blocks
        pair_sum += float(_normal_at(torch.cdist(x[start:start + 1024], x).pow(2), 2 * h**2, d).sum())
    cross = float(_normal_at(x.pow(2).sum(1), 1 + h**2, d).sum())
    return pair_sum / n**2 - 2 * cross / n + (4 * math.pi) ** (-d / 2)


def mise(n: int, d: int, h: float) -> float:
    """Expected ISE over draws of n samples, exact."""
    return ((4 * math.pi * h**2) ** (-d / 2) / n + (1 - 1 / n) * (4 * math.pi * (1 + h**2)) ** (-d / 2)
            - 2 * (2 * math.pi * (2 + h**2)) ** (-d / 2) + (4 * math.pi) ** (-d / 2))


def kde_error_curves(dims: list[int], sample_sizes: list[int], repeats: int, seed: int) -> list[dict]:
    """Relative ISE (ISE / int p^2) of the KDE with the optimal bandwidth, per d, n and repeat, beside the
    exact relative MISE and the rate n^{-4/(d+4)}."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for d in dims:
        norm = (4 * math.pi) ** (-d / 2)
        for n in sample_sizes:
            h = optimal_bandwidth(n, d)
            for repeat in range(repeats):
                samples = torch.randn(n, d, generator=generator, dtype=torch.float64)
                rows.append({"d": d, "n": n, "repeat": repeat, "bandwidth": h,
                             "relative_ise": ise(samples, h) / norm, "relative_mise": mise(n, d, h) / norm,
                             "rate_exponent": -4 / (d + 4)})
    return rows


def fitted_exponent(sample_sizes: np.ndarray, errors: np.ndarray) -> float:
    """Least-squares slope of log error against log n."""
    return float(np.polyfit(np.log(sample_sizes), np.log(errors), 1)[0])


def samples_needed(relative_error: float, d: int, n_max: float = 1e40) -> float:
    """Smallest n whose exact relative MISE (optimal bandwidth) is at most ``relative_error``, by
    bisection on log n; inf if even n_max samples do not reach it."""
    def error(n: float) -> float:
        return mise(n, d, optimal_bandwidth(n, d)) / (4 * math.pi) ** (-d / 2)
    if error(n_max) > relative_error:
        return math.inf
    low, high = 0.0, math.log(n_max)
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if error(math.exp(mid)) > relative_error else (low, mid)
    return math.exp(high)
