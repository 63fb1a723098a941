"""Energy-based model (seed section 1.1.7): p(x) proportional to exp(-E(x)) with an MLP energy.

Training is contrastive divergence: the loss E(x_data) - E(x_neg) (plus a small penalty on the squared
energies that keeps them near zero) has the gradient of the negative log-likelihood when x_neg is a
sample of the model. Negatives come from stochastic-gradient Langevin dynamics (SGLD),
x <- x - step_size * grad E(x) + noise * N(0, I), started from a persistent replay buffer (Du & Mordatch
2019), except for a fraction ``reinit`` of chains restarted from uniform noise. The buffer is a module
buffer, so it is checkpointed and a resumed run continues the same chains.

Generation runs ``sample_steps`` SGLD steps from uniform noise (not from the buffer, which would only
show training negatives). The normaliser is intractable: no likelihood, and tables say n/a."""

from __future__ import annotations

from typing import Any

import torch

from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn import MLP


class EnergyModel(Family):
    capabilities = CAPABILITIES["ebm"]
    has_likelihood = False

    def __init__(self, example_shape, hidden: int = 256, depth: int = 3, langevin_steps: int = 40,
                 step_size: float = 1.0, noise: float = 0.01, sample_steps: int = 200, buffer_size: int = 10000,
                 reinit: float = 0.05, energy_penalty: float = 0.1):
        super().__init__(example_shape)
        self.langevin_steps, self.step_size, self.noise = langevin_steps, step_size, noise
        self.sample_steps, self.reinit, self.energy_penalty = sample_steps, reinit, energy_penalty
        self.energy_net = MLP(self.dim, 1, hidden, depth)
        self.register_buffer("replay", torch.zeros(buffer_size, self.dim))
        self.register_buffer("low", torch.full((self.dim,), -1.0))
        self.register_buffer("high", torch.full((self.dim,), 1.0))

    def initialize(self, x_train: torch.Tensor) -> None:
        """Noise is drawn uniformly over the data's bounding box; the buffer starts as such noise."""
        x = x_train.flatten(1)
        self.low.copy_(x.min(0).values)
        self.high.copy_(x.max(0).values)
        self.replay.copy_(self._uniform(len(self.replay)))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.energy_net(x.flatten(1))[:, 0]

    def _uniform(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, self.dim, generator=generator, device=self.low.device)
        return self.low + (self.high - self.low) * u

    def langevin(self, x: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """SGLD on flattened points; counts one network evaluation per step."""
        with torch.enable_grad():
            for _ in range(steps):
                self.network_evaluations += 1
                x = x.detach().requires_grad_(True)
                grad, = torch.autograd.grad(self.energy(x).sum(), x)
                noise = torch.randn(x.shape, generator=generator, device=x.device)
                x = x - self.step_size * grad + self.noise * noise
        return x.detach()

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        real = batch["x"].flatten(1)
        index = torch.randint(len(self.replay), (len(real),), device=self.replay.device)
        start = self.replay[index]
        restart = torch.rand(len(real), device=start.device) < self.reinit
        start = torch.where(restart[:, None], self._uniform(len(real)), start)
        negative = self.langevin(start, self.langevin_steps)
        self.replay[index] = negative
        real_energy, negative_energy = self.energy(real), self.energy(negative)
        contrast = real_energy.mean() - negative_energy.mean()
        loss = contrast + self.energy_penalty * (real_energy.pow(2).mean() + negative_energy.pow(2).mean())
        return {"loss": loss, "contrast": contrast.detach(), "real_energy": real_energy.mean().detach(),
                "negative_energy": negative_energy.mean().detach()}

    def sample(self, n, generator=None, **options):
        steps = options.get("steps", self.sample_steps)
        x = self.langevin(self._uniform(n, generator), steps, generator)
        return x.view(n, *self.example_shape)
