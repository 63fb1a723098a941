"""DiffDecoder: the baseline of the ScoreVAE paper (Batzolis et al. 2023, arXiv 2304.12141, section 5), an
auto-encoder whose decoder is a conditional diffusion model trained jointly with the encoder.

The encoder is ScoreVAE's (the same network at t = 0: a diagonal Gaussian q(z | x_0)); the decoder is a score
network s(x_t, t, z) that takes the latent as a condition vector (genlab.families.diffusion with cond_dim).
Training draws z ~ q(z | x_0) by reparametrisation and minimises the denoising score-matching loss of the
conditional network plus beta times KL(q(z | x_0) || N(0, I)); both networks learn. Decoding runs the reverse-
time sampler with z fixed.

Why it is the paper's foil: the decoder alone can model p(x) without z, so any beta > 0 makes an uninformative
posterior (q = N(0, I), KL = 0) a cheap optimum. The paper reports that DiffDecoder collapses at beta = 0.01
(its reconstructions ignore the latent) and works at beta = 0, where ScoreVAE, whose decoder is frozen and
unconditional, has to route every bit of x through z."""

from __future__ import annotations

from typing import Any

import torch

from genlab.diffusion.losses import dsm_loss
from genlab.families import CAPABILITIES
from genlab.families.diffusion import DiffusionModel
from genlab.families.score_vae import DiffusionAutoencoder
from genlab.families.vae import _kl_to_standard_normal
from genlab.nn.mlp import ConditionalMLP


class DiffDecoder(DiffusionAutoencoder):
    capabilities = CAPABILITIES["diff_decoder"]
    likelihood_kind = "n/a (auto-encoder with a diffusion decoder)"

    def __init__(self, example_shape, sde: dict, network: dict, loss: dict, sampler: dict, latent_dim: int = 16,
                 encoder: dict | None = None, beta: float = 0.0, min_log_std: float = -6.0):
        super().__init__(example_shape)
        self.diffusion = DiffusionModel(example_shape, sde, network, loss, sampler, likelihood={"method": "none"},
                                        cond_dim=latent_dim)
        self.encoder = ConditionalMLP(example_shape, out_dim=2 * latent_dim, **(encoder or {}))
        self.latent_dim, self.beta, self.min_log_std = latent_dim, beta, min_log_std
        self.t_clean = self.diffusion.time_sampler.eps  # the encoder's "t = 0", as ScoreVAE's

    def conditional_score(self, x_t: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The decoder's score grad_{x_t} log p(x_t | z)."""
        self.network_evaluations += 1
        return self.diffusion.score(x_t, t, z)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        mean, log_std = self.encode(x)
        z = mean + torch.exp(log_std) * torch.randn_like(mean)
        kl = _kl_to_standard_normal(mean, log_std)
        denoising = dsm_loss(self.diffusion.eps, self.sde, x, self.diffusion.time_sampler, z)
        loss = (denoising + self.beta * kl).mean() / self.dim
        return {"loss": loss, "denoising": denoising.mean().detach() / self.dim, "kl": kl.mean().detach() / self.dim}

    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        """Reverse-time sampling given latents z (n, latent_dim); the configured sampler, keyword options
        override it as in DiffusionModel.sample."""
        z = z.to(self.device)
        return self.diffusion._run_sampler(lambda x, t: self.conditional_score(x, t, z), len(z), generator, options)
