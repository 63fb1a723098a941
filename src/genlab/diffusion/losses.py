"""Denoising score matching (seed section 1.1.8) in the noise-prediction parametrisation.

With s(x_t, t) = -eps(x_t, t) / sigma(t) and the kernel score -z / sigma(t),
lambda(t) ||s - grad log p(x_t | x_0)||^2 = (lambda(t) / sigma(t)^2) ||eps - z||^2. So:
- weighting 'simple' (lambda = sigma^2) is the DDPM loss ||eps - z||^2;
- weighting 'likelihood' (lambda = g^2, Song et al. 2021) bounds the NLL. Its weight g^2/sigma^2 grows
  like 1/t near t = 0 for VP, so t can be drawn from q(t) proportional to g^2/sigma^2 (importance sampling),
  which makes the per-sample weight constant. Either way the returned loss is an unbiased estimate of
  (1/2) int_eps^T lambda(t) E||s - grad log p(x_t|x_0)||^2 dt, so losses are comparable across samplers.

The same function serves conditional DSM (CDSM, seed eq. 1.2): the condition goes to the network, the
regression target is unchanged."""

from __future__ import annotations

from typing import Callable

import torch

from genlab.diffusion.sde import SDE, _bcast

WEIGHTINGS = ("simple", "likelihood")


class TimeSampler:
    """Draws t in [eps, T] and returns the density q(t) it was drawn from."""

    def __init__(self, sde: SDE, weighting: str, importance_sampling: bool, eps: float, grid: int = 4096):
        if weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.sde, self.weighting, self.eps = sde, weighting, eps
        self.importance = importance_sampling
        if importance_sampling:
            # Tabulate q(t) ~ lambda(t)/sigma(t)^2 on a log grid (dense near eps, where it peaks) and
            # sample the piecewise-linear inverse CDF; q is then piecewise constant and known exactly.
            t = torch.logspace(torch.log10(torch.tensor(eps)), torch.log10(torch.tensor(sde.T)), grid,
                               dtype=torch.float64)
            w = self.weight(t)
            cdf = torch.cat([torch.zeros(1, dtype=torch.float64),
                             torch.cumsum(0.5 * (w[1:] + w[:-1]) * torch.diff(t), 0)])
            self.grid_t, self.cdf = t, cdf / cdf[-1]
            self.density = torch.diff(self.cdf) / torch.diff(t)

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """lambda(t) / sigma(t)^2: the weight of ||eps - z||^2."""
        if self.weighting == "simple":
            return torch.ones_like(t)
        _, sigma = self.sde.marginal_coefficients(t)
        return self.sde.beta(t) / sigma**2

    def sample(self, n: int, device=None, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(n, dtype=torch.float64, generator=generator)
        if not self.importance:
            t = self.eps + u * (self.sde.T - self.eps)
            q = torch.full_like(t, 1.0 / (self.sde.T - self.eps))
        else:
            idx = torch.searchsorted(self.cdf, u, right=True).clamp(1, len(self.cdf) - 1) - 1
            frac = (u - self.cdf[idx]) / (self.cdf[idx + 1] - self.cdf[idx])
            t = self.grid_t[idx] + frac * (self.grid_t[idx + 1] - self.grid_t[idx])
            q = self.density[idx]
        return t.float().to(device), q.float().to(device)


def dsm_loss(eps_fn: Callable, sde: SDE, x0: torch.Tensor, time_sampler: TimeSampler,
             cond: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example DSM loss estimate, shape (B,). eps_fn(x_t, t, cond) predicts the added noise."""
    t, q = time_sampler.sample(len(x0), device=x0.device)
    z = torch.randn_like(x0)
    x_t = sde.perturb(x0, t, z)
    eps = eps_fn(x_t, t, cond)
    sq = (eps.float() - z).pow(2).flatten(1).sum(1)
    return 0.5 * time_sampler.weight(t) / q * sq
