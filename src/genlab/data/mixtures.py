"""Gaussian mixtures with analytic densities and scores, also after Gaussian perturbation.

If x0 ~ sum_k w_k N(mu_k, S_k) and x_t = alpha x0 + sigma z, then x_t ~ sum_k w_k N(alpha mu_k,
alpha^2 S_k + sigma^2 I): the perturbed density and its score are exact for every SDE in
genlab.diffusion.sde, which makes mixtures the ground truth for samplers, likelihoods and score tests.
Computations run in float64."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class GaussianMixture:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, D)
    covariances: torch.Tensor  # (K, D, D)

    @classmethod
    def from_meta(cls, meta: dict) -> "GaussianMixture":
        m = meta["mixture"]
        return cls(torch.tensor(m["weights"], dtype=torch.float64), torch.tensor(m["means"], dtype=torch.float64),
                   torch.tensor(m["covariances"], dtype=torch.float64))

    def to_meta(self) -> dict:
        return {"weights": self.weights.tolist(), "means": self.means.tolist(),
                "covariances": self.covariances.tolist()}

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        components = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covariances)[components]
        z = torch.randn(n, self.dim, 1, dtype=torch.float64, generator=generator)
        return self.means[components] + (chol @ z).squeeze(-1)

    def _perturbed(self, x: torch.Tensor, alpha, sigma):
        """Per-example means (B,K,D) and covariances (B,K,D,D) of the perturbed mixture. alpha and sigma are
        scalars, (B,) per example, or (B, D) per coordinate: the last perturbs blocks of coordinates at
        different speeds (conditional scores: the condition's block left clean or diffused more slowly)."""
        x = x.to(torch.float64)

        def per_coordinate(value):
            value = torch.as_tensor(value, dtype=torch.float64)
            value = value.reshape(-1, 1) if value.dim() < 2 else value
            return value.expand(len(x), self.dim)[:, None, :]  # (B, 1, D)
        alpha, sigma = per_coordinate(alpha), per_coordinate(sigma)
        covs = alpha[..., :, None] * self.covariances * alpha[..., None, :] + torch.diag_embed(sigma**2)
        means = alpha * self.means
        return x, means, covs

    def component_log_probs(self, x: torch.Tensor, alpha=1.0, sigma=0.0):
        """log(w_k N(x; alpha mu_k, alpha^2 S_k + sigma^2 I)) as (B, K), and the solves S^-1 (x - m)."""
        x, means, covs = self._perturbed(x, alpha, sigma)
        diff = x[:, None, :] - means  # (B, K, D)
        chol = torch.linalg.cholesky(covs)
        solved = torch.cholesky_solve(diff[..., None], chol)[..., 0]  # (B, K, D)
        maha = (diff * solved).sum(-1)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        log_norm = -0.5 * (self.dim * math.log(2 * math.pi) + logdet)
        return torch.log(self.weights) + log_norm - 0.5 * maha, solved

    def log_prob(self, x: torch.Tensor, alpha=1.0, sigma=0.0) -> torch.Tensor:
        """Log-density (nats) of the mixture perturbed to x = alpha x0 + sigma z."""
        comp, _ = self.component_log_probs(x, alpha, sigma)
        return torch.logsumexp(comp, dim=-1)

    def score(self, x: torch.Tensor, alpha=1.0, sigma=0.0) -> torch.Tensor:
        """grad_x log p(x) of the perturbed mixture: -sum_k r_k(x) S_k^-1 (x - m_k)."""
        comp, solved = self.component_log_probs(x, alpha, sigma)
        resp = torch.softmax(comp, dim=-1)
        return -(resp[..., None] * solved).sum(1)

    def entropy_mc(self, n: int = 200_000, seed: int = 0) -> float:
        """Monte-Carlo differential entropy in nats (the expected NLL of a perfect model)."""
        g = torch.Generator().manual_seed(seed)
        return float(-self.log_prob(self.sample(n, g)).mean())


def random_mixture(rng: np.random.Generator, components: int, dim: int, spread: float,
                   std_range: tuple[float, float]) -> GaussianMixture:
    """Random well-conditioned mixture: means ~ U[-spread, spread], covariances with random rotations."""
    means = rng.uniform(-spread, spread, size=(components, dim))
    covs = []
    for _ in range(components):
        q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
        stds = rng.uniform(*std_range, size=dim)
        covs.append(q @ np.diag(stds**2) @ q.T)
    weights = rng.dirichlet(np.full(components, 5.0))
    return GaussianMixture(torch.tensor(weights), torch.tensor(means), torch.tensor(np.stack(covs)))


def ring_mixture(modes: int, radius: float, std: float) -> GaussianMixture:
    """The ring-of-Gaussians toy: equal-weight isotropic modes evenly spaced on a circle."""
    angles = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    covs = (std**2) * torch.eye(2, dtype=torch.float64).expand(modes, 2, 2).clone()
    return GaussianMixture(torch.full((modes,), 1.0 / modes, dtype=torch.float64), means, covs)
