"""Moment-matched Gaussian: the baseline every family must beat. Fitted in closed form (maximum
likelihood mean and covariance, with a small ridge so the covariance is invertible); exact likelihood,
one-pass sampling."""

from __future__ import annotations

import math

import torch

from genlab.families import CAPABILITIES
from genlab.families.base import Family


class GaussianBaseline(Family):
    capabilities = CAPABILITIES["gaussian"]
    def __init__(self, example_shape, ridge: float = 1e-3):
        super().__init__(example_shape)
        self.ridge = ridge
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("chol", torch.eye(self.dim))

    def initialize(self, x_train: torch.Tensor) -> None:
        x = x_train.flatten(1).double()
        mean = x.mean(0)
        cov = torch.cov(x.T, correction=0) + self.ridge * torch.eye(self.dim, dtype=x.dtype)
        self.mean.copy_(mean)
        self.chol.copy_(torch.linalg.cholesky(cov))

    def loss(self, batch):
        return {"loss": -self.log_likelihood(batch["x"]).mean() / self.dim}

    def sample(self, n, generator=None, **options):
        self.network_evaluations += 1
        z = torch.randn(n, self.dim, generator=generator, device=self.mean.device)
        return (self.mean + z @ self.chol.T).view(n, *self.example_shape)

    def log_likelihood(self, x, generator=None):
        diff = (x.flatten(1).to(self.mean) - self.mean)[..., None]
        solved = torch.linalg.solve_triangular(self.chol, diff, upper=False)[..., 0]
        logdet = 2 * torch.log(torch.diagonal(self.chol)).sum()
        return -0.5 * (self.dim * math.log(2 * math.pi) + logdet + solved.pow(2).sum(1))
