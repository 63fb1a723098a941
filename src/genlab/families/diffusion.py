"""The diffusion family: a noise-prediction network on top of one of the SDEs in genlab.diffusion.

Preconditioning (why): the network sees x_t / sqrt(alpha^2 + sigma^2), which has roughly unit variance
for data of unit scale at every t and for every SDE (VE's sigma reaches 50), and is conditioned on the
noise level log(sigma/alpha) rather than on t, so one network design serves VP, sub-VP and VE."""

from __future__ import annotations

from typing import Any

import torch

from genlab.batching import in_cpu_sized_calls
from genlab.diffusion.likelihood import ode_log_likelihood
from genlab.diffusion.losses import TimeSampler, dsm_loss
from genlab.diffusion.samplers import SAMPLERS
from genlab.diffusion.sde import _bcast, make_sde
from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn import make_network


class DiffusionModel(Family):
    capabilities = CAPABILITIES["diffusion"]

    def __init__(self, example_shape, sde: dict, network: dict, loss: dict, sampler: dict,
                 likelihood: dict, cond_dim: int = 0, cond_channels: int = 0):
        super().__init__(example_shape)
        self.sde = make_sde(sde)
        self.network = make_network(network, self.example_shape, cond_dim, cond_channels)
        self.time_sampler = TimeSampler(self.sde, loss["weighting"], loss["importance_sampling"], loss["eps"])
        self.sampler_options = dict(sampler)
        self.likelihood_options = dict(likelihood)

    @property
    def likelihood_kind(self) -> str:
        method = self.likelihood_options["method"]
        return "probability-flow ODE, " + ("Hutchinson trace" if method == "hutchinson" else "exact trace")

    def eps(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        alpha, sigma = self.sde.marginal_coefficients(t)
        scale = _bcast(torch.rsqrt(alpha**2 + sigma**2), x)
        # sampling's large batches in cache-sized calls on a CPU (the same numbers; genlab.batching)
        return in_cpu_sized_calls(self.network, x * scale, self.sde.noise_level(t), cond)

    def score(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """s(x, t) = -eps(x, t) / sigma(t); counts one network evaluation."""
        self.network_evaluations += 1
        dtype = x.dtype
        x, t = x.float(), t.float()
        _, sigma = self.sde.marginal_coefficients(t)
        return (-self.eps(x, t, cond) / _bcast(sigma, x)).to(dtype)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": dsm_loss(self.eps, self.sde, batch["x"], self.time_sampler).mean()}

    def sample(self, n, generator=None, **options):
        """Sample with the configured sampler; keyword options override it (e.g. name='ddim', steps=10).
        Naming another sampler keeps only the configured end time and denoising step, not the options
        that belong to the configured sampler (an ODE's rtol means nothing to Euler-Maruyama)."""
        return self._run_sampler(self.score, n, generator, options)

    def _run_sampler(self, score_fn, n, generator, options, configured: dict | None = None):
        """The configured sampler (``configured``, default this model's), with ``options`` overriding it as
        described in ``sample``, run with ``score_fn`` from the prior."""
        base = configured or self.sampler_options
        if options.get("name", base["name"]) != base["name"]:
            base = {key: base[key] for key in ("eps", "denoise") if key in base}
        options = {**base, **options}
        sampler = SAMPLERS[options.pop("name")]
        x_T = self.sde.prior_sample((n, *self.example_shape), generator=generator, device=self.device)
        return sampler(score_fn, self.sde, x_T, generator=generator, **options)

    def log_likelihood(self, x, generator=None):
        return ode_log_likelihood(self.score, self.sde, x.to(self.device), generator=generator,
                                  **self.likelihood_options)
