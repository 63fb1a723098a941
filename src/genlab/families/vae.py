"""Variational auto-encoder (seed section 1.1.4): Gaussian encoder q(z|x), Gaussian decoder p(x|z) whose
mean and per-dimension standard deviation both depend on z, standard normal prior. (A decoder variance
that does not depend on z cannot model data whose spread varies across the space, e.g. narrow modes: on
the ring toy it costs 0.1 nats/dim of likelihood.)

With ``decoder: bernoulli`` the decoder instead gives one logit per pixel and reads grey levels in [-1, 1] as
probabilities (x + 1) / 2 under a Bernoulli likelihood: binary cross-entropy, the MNIST VAE of Kingma & Welling
(2014) and of pytorch/examples (vae/main.py). On grey levels that is no normalised density, so such a VAE
reports no NLL; it is the reference for Fig 1.3's blur. (The Gaussian decoder with a per-pixel variance learns
near-zero variances on MNIST's constant background and spends its latents there: on 28x28 digits its
reconstructions were close to the mean digit, MSE 0.24 and a linear probe of 0.56 on its latents.)

Training minimises the beta-ELBO per dimension. The likelihood reported in tables is the importance-
weighted bound (IWAE, Burda et al. 2016) with K samples, which is tighter than the ELBO for K > 1 and
tends to log p(x) as K grows; the ELBO (beta = 1) is reported beside it."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn import MLP

LOG_2PI = math.log(2 * math.pi)
DECODERS = ("gaussian", "bernoulli")


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Sum over the last dimension of log N(x; mean, exp(log_std)^2)."""
    return -(0.5 * ((x - mean) * torch.exp(-log_std)).pow(2) + log_std + 0.5 * LOG_2PI).sum(-1)


def _kl_to_standard_normal(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Sum over the last dimension of KL(N(mean, exp(log_std)^2) || N(0, 1)), in closed form."""
    return 0.5 * (mean.pow(2) + torch.exp(2 * log_std) - 1 - 2 * log_std).sum(-1)


class VAE(Family):
    capabilities = CAPABILITIES["vae"]

    def __init__(self, example_shape, latent_dim: int = 16, hidden: int = 256, depth: int = 2,
                 beta: float = 1.0, kl_warmup_steps: int = 0, importance_samples: int = 128,
                 min_log_std: float = -6.0, decoder: str = "gaussian"):
        super().__init__(example_shape)
        if decoder not in DECODERS:
            raise ValueError(f"unknown VAE decoder {decoder!r}; choose one of {DECODERS}")
        self.latent_dim, self.beta, self.importance_samples = latent_dim, beta, importance_samples
        self.kl_warmup_steps = kl_warmup_steps
        self.min_log_std = min_log_std
        self.bernoulli = decoder == "bernoulli"
        self.has_likelihood = not self.bernoulli
        self.encoder = MLP(self.dim, 2 * latent_dim, hidden, depth)
        self.decoder = MLP(latent_dim, (1 if self.bernoulli else 2) * self.dim, hidden, depth)

    @property
    def likelihood_kind(self) -> str:
        return f"IWAE bound, K={self.importance_samples}"

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log standard deviation of q(z | x)."""
        mean, log_std = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return mean, log_std.clamp(min=self.min_log_std)

    @torch.no_grad()
    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The representation of x: the mean of q(z | x) (linear probes read it)."""
        return self.encode(x.to(self.device))[0]

    def _decoder(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.decoder(z).chunk(2, dim=-1)
        return mean, log_std.clamp(min=self.min_log_std)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x | z), shaped like the data (Bernoulli: 2 p - 1 in the data's [-1, 1])."""
        mean = 2 * torch.sigmoid(self.decoder(z)) - 1 if self.bernoulli else self._decoder(z)[0]
        return mean.view(*z.shape[:-1], *self.example_shape)

    def _decoder_log_prob(self, x_flat: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.bernoulli:  # -BCE(logits, (x + 1) / 2), summed over pixels
            logits = self.decoder(z)
            return -binary_cross_entropy_with_logits(logits, ((x_flat + 1) / 2).expand_as(logits),
                                                     reduction="none").sum(-1)
        return _normal_log_prob(x_flat, *self._decoder(z))

    def elbo_terms(self, x: torch.Tensor, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per example: reconstruction log-likelihood log p(x|z) at one z ~ q(z|x), and KL(q || prior)."""
        mean, log_std = self.encode(x)
        z = mean + torch.exp(log_std) * torch.randn(mean.shape, generator=generator, device=mean.device)
        reconstruction = self._decoder_log_prob(x.flatten(1), z)
        kl = _kl_to_standard_normal(mean, log_std)
        return reconstruction, kl

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        reconstruction, kl = self.elbo_terms(batch["x"])
        # KL warm-up (beta ramped from 0): without it a decoder whose variance depends on z can explain
        # the data by variance alone and the posterior collapses to the prior
        warmup = min(1.0, (batch.get("step", 0) + 1) / self.kl_warmup_steps) if self.kl_warmup_steps else 1.0
        loss = (-reconstruction + warmup * self.beta * kl).mean() / self.dim
        return {"loss": loss, "reconstruction": -reconstruction.mean().detach() / self.dim,
                "kl": kl.mean().detach() / self.dim}

    @torch.no_grad()
    def log_likelihood(self, x, generator=None):
        """IWAE bound log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x), in nats per example."""
        x = x.to(self.device)
        mean, log_std = self.encode(x)
        x_flat = x.flatten(1)
        weights = []
        for start in range(0, self.importance_samples, 32):  # chunks of samples bound the memory
            k = min(32, self.importance_samples - start)
            noise = torch.randn(k, *mean.shape, generator=generator, device=mean.device)
            z = mean + torch.exp(log_std) * noise
            log_q = _normal_log_prob(z, mean, log_std)
            log_prior = _normal_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))
            weights.append(self._decoder_log_prob(x_flat.expand(k, *x_flat.shape), z) + log_prior - log_q)
        return torch.logsumexp(torch.cat(weights), dim=0) - math.log(self.importance_samples)

    @torch.no_grad()
    def log_likelihood_bounds(self, x, generator=None) -> dict[str, torch.Tensor]:
        """The ELBO (beta = 1, analytic KL, one reconstruction sample) on the same examples."""
        reconstruction, kl = self.elbo_terms(x.to(self.device), generator)
        return {"elbo": reconstruction - kl}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder mean at the encoder mean: the deterministic reconstruction of Fig 1.3."""
        return self.decode(self.encode(x.to(self.device))[0])

    @torch.no_grad()
    def sample(self, n, generator=None, **options):
        """Decoder means at prior draws (adding the decoder's pixel noise only blurs the picture)."""
        self.network_evaluations += 1
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=self.device))
