"""ScoreVAE (Batzolis et al. 2023, variational diffusion auto-encoder; seed section 1.2.5): an auto-encoder
whose decoder is a pretrained, frozen unconditional diffusion model steered by a learned encoder.

One time-dependent encoder network gives a diagonal Gaussian q(z | x_t, t). At (almost) t = 0 it is the
encoder q(z | x_0); at t > 0 its log-density supplies the likelihood term of Bayes' rule for scores,
    s(x_t, z, t) = s_pretrained(x_t, t) + grad_{x_t} log q(z | x_t, t),
which is the decoder's conditional score grad_{x_t} log p(x_t | z). Training draws z ~ q(z | x_0) by
reparametrisation and minimises the denoising score-matching loss of that combined score plus beta times
KL(q(z | x_0) || N(0, I)); only the encoder learns. Decoding (reconstruction, generation from prior
draws) runs the pretrained model's reverse-time sampler with the combined score.

Why the encoder sees x_t scaled by 1/sqrt(alpha^2 + sigma^2) and the noise level log(sigma/alpha): the same
preconditioning as the pretrained network (genlab.families.diffusion), so one design serves every SDE.
The grad_{x_t} term needs a backward pass inside the forward pass (and a double backward in training)."""

from __future__ import annotations

from typing import Any

import torch

from genlab.diffusion.losses import dsm_loss
from genlab.diffusion.sde import _bcast
from genlab.errors import CheckpointError
from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.families.diffusion import DiffusionModel
from genlab.families.vae import _kl_to_standard_normal, _normal_log_prob
from genlab.nn.mlp import ConditionalMLP


class DiffusionAutoencoder(Family):
    """What ScoreVAE and DiffDecoder share: a diagonal Gaussian encoder q(z | x_t, t) (``self.encoder``, a
    ConditionalMLP with 2 * latent_dim outputs) on the diffusion models' preconditioned input, read at the
    smallest time as q(z | x_0), and a decoder that samples the reverse-time process given z (``decode``)."""
    has_likelihood = False

    @property
    def sde(self):
        return self.diffusion.sde

    def posterior(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log standard deviation of q(z | x_t, t)."""
        alpha, sigma = self.sde.marginal_coefficients(t)
        scale = _bcast(torch.rsqrt(alpha**2 + sigma**2), x_t)
        mean, log_std = self.encoder(x_t * scale, self.sde.noise_level(t)).chunk(2, dim=-1)
        return mean, log_std.clamp(min=self.min_log_std)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x_0): the posterior at the smallest time."""
        return self.posterior(x, torch.full((len(x),), self.t_clean, device=x.device))

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The representation of x: the mean of q(z | x_0) (linear probes read it)."""
        with torch.no_grad():
            return self.encode(x.to(self.device))[0]

    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode the mean of q(z | x_0) (Fig 1.3 beside the VAE's reconstructions)."""
        return self.decode(self.latent(x), generator)

    def sample(self, n, generator=None, **options):
        """Decode prior draws z ~ N(0, I)."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=self.device)
        return self.decode(z, generator, **options)


class ScoreVAE(DiffusionAutoencoder):
    capabilities = CAPABILITIES["score_vae"]
    likelihood_kind = "n/a (auto-encoder on a pretrained score model)"

    def __init__(self, example_shape, pretrained: dict[str, Any], latent_dim: int = 16, encoder: dict | None = None,
                 beta: float = 1.0, sampler: dict | None = None, min_log_std: float = -6.0):
        super().__init__(example_shape)
        options = {key: value for key, value in pretrained.items() if key not in ("family", "training")}
        self.diffusion = DiffusionModel(example_shape, **options).requires_grad_(False)
        self.latent_dim, self.beta, self.min_log_std = latent_dim, beta, min_log_std
        self.encoder = ConditionalMLP(example_shape, out_dim=2 * latent_dim, **(encoder or {}))
        self.sampler_options = dict(sampler or self.diffusion.sampler_options)
        self.t_clean = self.diffusion.time_sampler.eps  # the encoder's "t = 0": the loss's smallest time

    def load_pretrained(self, state: dict[str, Any], source: str) -> None:
        """Put the pretrained diffusion model's (EMA) weights in place before training."""
        try:
            self.diffusion.load_state_dict(state["ema"])
        except RuntimeError as error:
            raise CheckpointError(f"pretrained checkpoint {source} does not fit this model's `pretrained` block "
                                  f"({str(error).strip().splitlines()[-1].strip()})") from error

    def train(self, mode: bool = True):
        super().train(mode)
        self.diffusion.eval()  # frozen: never in training mode (dropout)
        return self

    def latent_score(self, x_t: torch.Tensor, t: torch.Tensor, z: torch.Tensor, create_graph: bool = False):
        """grad_{x_t} log q(z | x_t, t); with create_graph the result is differentiable in the encoder's
        weights (training)."""
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_(True)
            log_q = _normal_log_prob(z, *self.posterior(x_t, t)).sum()
            return torch.autograd.grad(log_q, x_t, create_graph=create_graph)[0]

    def conditional_score(self, x_t: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """s_pretrained(x_t, t) + grad_{x_t} log q(z | x_t, t): the decoder's score given z."""
        self.network_evaluations += 1
        return self.diffusion.score(x_t, t) + self.latent_score(x_t, t, z)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x = batch["x"]
        mean, log_std = self.encode(x)
        z = mean + torch.exp(log_std) * torch.randn_like(mean)
        kl = _kl_to_standard_normal(mean, log_std)

        def eps(x_t, t, z):  # eps = -sigma * score, for the combined score
            _, sigma = self.sde.marginal_coefficients(t)
            return (self.diffusion.eps(x_t, t) - _bcast(sigma, x_t) * self.latent_score(x_t, t, z, create_graph=True))

        denoising = dsm_loss(eps, self.sde, x, self.diffusion.time_sampler, z)
        loss = (denoising + self.beta * kl).mean() / self.dim
        return {"loss": loss, "denoising": denoising.mean().detach() / self.dim, "kl": kl.mean().detach() / self.dim}

    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        """Reverse-time sampling with the conditional score given latents z (n, latent_dim); sampler options
        as configured (``sampler``, else the pretrained model's), keyword options override them as in
        DiffusionModel.sample."""
        return self.diffusion._run_sampler(lambda x, t: self.conditional_score(x, t, z), len(z), generator, options,
                                           configured=self.sampler_options)
