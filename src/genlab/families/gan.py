"""Generative adversarial networks (seed section 1.1.3): the original minimax game, its non-saturating
generator loss, and WGAN-GP (Wasserstein critic with a gradient penalty).

The two players share the training loop's one optimizer and alternate: at loop step s the discriminator
(critic) is updated when s mod (critic_steps + 1) < critic_steps, the generator otherwise. Each player's
loss gives gradients to its own parameters only (the fake batch is detached for the discriminator; the
generator's loss runs the discriminator with detached weights), so the idle player's gradients stay None
and AdamW skips it. ``training.steps`` therefore counts player updates of both kinds."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.functional import softplus

from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn import MLP

OBJECTIVES = ("minimax", "non_saturating", "wgan_gp")


class GAN(Family):
    capabilities = CAPABILITIES["gan"]
    has_likelihood = False

    def __init__(self, example_shape, objective: str = "non_saturating", latent_dim: int = 32,
                 generator: dict | None = None, discriminator: dict | None = None, critic_steps: int = 1,
                 gradient_penalty: float = 10.0):
        super().__init__(example_shape)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown GAN objective {objective!r}; choose one of {OBJECTIVES}")
        self.objective, self.latent_dim = objective, latent_dim
        self.critic_steps, self.gradient_penalty = critic_steps, gradient_penalty
        self.generator = MLP(latent_dim, self.dim, **(generator or {"hidden": 256, "depth": 2}))
        self.discriminator = MLP(self.dim, 1, **(discriminator or {"hidden": 256, "depth": 2}))

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z).view(len(z), *self.example_shape)

    def critic(self, x: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """D(x) as a logit (minimax, non-saturating) or a critic value (WGAN-GP). ``frozen``: the
        discriminator's weights are treated as constants, so gradients reach only x."""
        if not frozen:
            return self.discriminator(x.flatten(1))[:, 0]
        weights = {name: value.detach() for name, value in self.discriminator.named_parameters()}
        return functional_call(self.discriminator, weights, (x.flatten(1),))[:, 0]

    def discriminator_turn(self, step: int) -> bool:
        return step % (self.critic_steps + 1) < self.critic_steps

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        real = batch["x"]
        z = torch.randn(len(real), self.latent_dim, device=real.device)
        if self.discriminator_turn(batch.get("step", 0)):
            fake = self.generate(z).detach()
            real_out, fake_out = self.critic(real), self.critic(fake)
            if self.objective == "wgan_gp":
                loss = fake_out.mean() - real_out.mean() + self.gradient_penalty * self._penalty(real, fake)
            else:  # binary cross-entropy: -log D(real) - log(1 - D(fake))
                loss = softplus(-real_out).mean() + softplus(fake_out).mean()
            return {"loss": loss, "discriminator_loss": loss.detach(),
                    "real_score": real_out.mean().detach(), "fake_score": fake_out.mean().detach()}
        fake_out = self.critic(self.generate(z), frozen=True)
        if self.objective == "minimax":  # minimise log(1 - D(G(z)))
            loss = -softplus(fake_out).mean()
        elif self.objective == "non_saturating":  # minimise -log D(G(z))
            loss = softplus(-fake_out).mean()
        else:
            loss = -fake_out.mean()
        return {"loss": loss, "generator_loss": loss.detach()}

    def _penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """(||grad D(x_hat)|| - 1)^2 at random interpolates of real and fake (Gulrajani et al. 2017)."""
        mix = torch.rand(len(real), *[1] * (real.dim() - 1), device=real.device)
        x_hat = (mix * real + (1 - mix) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    @torch.no_grad()
    def sample(self, n, generator=None, **options):
        self.network_evaluations += 1
        return self.generate(torch.randn(n, self.latent_dim, generator=generator, device=self.device))
