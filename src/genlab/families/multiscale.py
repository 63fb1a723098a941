"""Multi-scale (non-uniform) diffusion, thesis chapter 4 (Batzolis, Stanczuk, Schönlieb, Etmann, "Non-Uniform
Diffusion Models", arXiv 2207.09786), as the authors' code builds it (GBATZOLIS/MSDiff,
lightning_modules/MultiScaleSdeGenerativeModel.py):

- the image is split by an orthonormal Haar transform into G = levels + 1 coefficient groups [d_1, ..., d_L,
  a_L] (genlab.diffusion.wavelets); group k (1-based) diffuses by its own VP SDE, linear in log-SNR from 10
  to -10, fully diffused at T_k = k / G: the finest details first, the coarsest approximation at T = 1;
- one score network per group. Network k serves t in (T_{k-1}, T_k], where the finer groups are pure noise
  and drop out: it sees the noisy groups k..G put back together as an image at resolution H / 2^(k-1) and
  predicts the noise of all of them (the image it outputs, split again). The finest network, the most
  expensive, is needed only on the first 1/G of the time;
- training: t uniform on [eps, 1] picks the network. The authors alternate the networks batch by batch
  (each with its own optimiser); here each step trains every network, one optimiser, on a fixed share of the
  batch in proportion to the length of its interval, t uniform inside the interval (stratified sampling of
  the same t), each share's mean weighed by that length: unbiased, and every network sees the same batch
  shape at every step (variable shapes made cuDNN's autotuner re-run each step: 0.11 steps/s at thesis scale
  on an H100, benchmarks/results/gpu_route.md). Their loss weighting
  is the likelihood weighting g^2 / sigma^2 of their marginal, the constant (l_max - l_min) / (T_k - eps)
  per group ("likelihood"); "simple" weighs every group 1;
- sampling from t = 1 down: in interval k only network k runs, on the groups k..G; group k starts as
  N(0, I) when its interval begins (its kernel's mean factor at T_k is 0.0067); the total steps are split
  equally between the intervals (their 128 = 4 x 32); DDIM (their ImageNet evaluation) or Euler-Maruyama
  (their CelebA-HQ one), each group stepped with its own SDE; a final Tweedie step denoises every group.

The networks predict noise (as genlab's diffusion family does; the authors' predict the score); VP keeps the
noisy groups at unit scale, and each network is conditioned on its own group's noise level. No likelihood:
the process is piecewise (a group enters as N(0, I) at its T_k, not as its exact marginal), so the table
says n/a rather than report an approximation."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from genlab.batching import in_cpu_sized_calls
from genlab.diffusion.sde import LogSNRVPSDE, _bcast
from genlab.diffusion.wavelets import check_levels, decompose, reconstruct
from genlab.families import CAPABILITIES
from genlab.families.base import Family
from genlab.nn import make_network

SAMPLERS = ("ddim", "euler_maruyama")
WEIGHTINGS = ("likelihood", "simple")


def group_shapes(example_shape: tuple[int, ...], levels: int) -> list[tuple[int, ...]]:
    """Shapes of [d_1, ..., d_L, a_L] for an image (C, H, W)."""
    c, h, w = example_shape
    return [(3 * c, h >> k, w >> k) for k in range(1, levels + 1)] + [(c, h >> levels, w >> levels)]


class MultiScaleDiffusion(Family):
    capabilities = CAPABILITIES["multiscale"]
    has_likelihood = False

    def __init__(self, example_shape, levels: int, network: dict, sde: dict, loss: dict, sampler: dict):
        super().__init__(example_shape)
        check_levels(self.example_shape, levels)
        if loss["weighting"] not in WEIGHTINGS:
            raise ValueError(f"loss.weighting must be one of {WEIGHTINGS}, got {loss['weighting']!r}")
        if sampler["name"] not in SAMPLERS:
            raise ValueError(f"sampler.name must be one of {SAMPLERS}, got {sampler['name']!r}")
        self.levels, self.groups = levels, levels + 1
        self.eps = sde["eps"]
        self.sdes = [LogSNRVPSDE(T=(k + 1) / self.groups, **sde) for k in range(self.groups)]
        c, h, w = self.example_shape
        self.networks = nn.ModuleList(make_network(self._network_config(network, k), (c, h >> k, w >> k))
                                      for k in range(self.groups))
        self.weighting = loss["weighting"]
        self.sampler_options = dict(sampler)

    @staticmethod
    def _network_config(config: dict, k: int) -> dict:
        """Network k's block: a U-Net drops its k finest levels (at least one stays), so every network ends at
        the same coarsest resolution, as in the authors' per-group configs (d1 (.5,1,1,1.5,2) at 128 px ... a3
        (1,2) at 16 px); other networks are used as configured."""
        if config["kind"] != "unet":
            return config
        mults = list(config.get("channel_mults", (1, 2)))
        return {**config, "channel_mults": mults[min(k, len(mults) - 1):]}

    def group_weight(self, k: int) -> float:
        """The weight of ||eps - z||^2 for group k (0-based)."""
        return self.sdes[k].slope if self.weighting == "likelihood" else 1.0

    def predict_noise(self, k: int, groups: list[torch.Tensor], t: torch.Tensor) -> list[torch.Tensor]:
        """Network k's noise prediction for the noisy groups [g_k, ..., g_G] at times t (B,)."""
        # cache-sized calls on a CPU, as the uniform model's (genlab.batching): the speed-up compares like with like
        out = in_cpu_sized_calls(self.networks[k], reconstruct(groups), self.sdes[k].noise_level(t))
        return decompose(out, self.levels - k)

    def interval_edges(self, eps: float | None = None) -> list[float]:
        """[eps, 1/G, 2/G, ..., 1]: network k serves t in (edges[k], edges[k + 1]]."""
        return [self.eps if eps is None else eps] + [(k + 1) / self.groups for k in range(self.groups)]

    def interval_shares(self) -> list[float]:
        """P(network k) for t ~ U[eps, 1]: the length of its interval over the whole."""
        edges = self.interval_edges()
        return [(b - a) / (1 - self.eps) for a, b in zip(edges, edges[1:])]

    def rows_per_network(self, batch_size: int) -> list[int]:
        """Each network's fixed share of a batch: proportional to its interval (largest remainders), >= 1."""
        if batch_size < self.groups:
            raise ValueError(f"training.batch_size {batch_size} < {self.groups}: the multi-scale model trains its "
                             f"{self.groups} networks on shares of each batch; use batch_size >= {self.groups}")
        exact = [share * batch_size for share in self.interval_shares()]
        counts = [max(1, math.floor(x)) for x in exact]
        by_remainder = sorted(range(self.groups), key=lambda k: exact[k] - counts[k], reverse=True)
        for k in by_remainder[:max(0, batch_size - sum(counts))]:
            counts[k] += 1
        while sum(counts) > batch_size:  # only where a share below one row was raised to one
            counts[counts.index(max(counts))] -= 1
        return counts

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Network k on its share of the batch (rows_per_network), t ~ U(its interval), the groups still not
        fully diffused at t noised by their kernels and network k regressed on their noise; each share's mean
        weighed by P(k): an unbiased estimate of (1/2) int sum_k w_k E||eps - z||^2 dt, as
        genlab.diffusion.losses writes it for one SDE."""
        x0 = batch["x"]
        clean = decompose(x0, self.levels)
        edges = self.interval_edges()
        total, start = x0.new_zeros(()), 0
        for k, (rows, share) in enumerate(zip(self.rows_per_network(len(x0)), self.interval_shares())):
            part = slice(start, start + rows)
            start += rows
            tk = edges[k] + (edges[k + 1] - edges[k]) * torch.rand(rows, device=x0.device)
            noise, noisy = [], []
            for j in range(k, self.groups):
                z = torch.randn_like(clean[j][part])
                noise.append(z)
                noisy.append(self.sdes[j].perturb(clean[j][part], tk, z))
            predicted = self.predict_noise(k, noisy, tk)
            squared = sum(self.group_weight(j) * (p.float() - z).pow(2).flatten(1).sum(1)
                          for j, p, z in zip(range(k, self.groups), predicted, noise))
            total = total + share * squared.mean()
        return {"loss": 0.5 * (1 - self.eps) * total}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        """Coarse to fine, as described above; options override the configured sampler (name, steps, eps,
        denoise)."""
        options = {**self.sampler_options, **options}
        if options["name"] not in SAMPLERS:
            raise ValueError(f"sampler {options['name']!r}: the multi-scale model samples with {SAMPLERS}")
        per_interval = max(1, options["steps"] // self.groups)
        eps, device = options.get("eps", self.eps), self.device
        shapes = group_shapes(self.example_shape, self.levels)
        edges = self.interval_edges(eps)
        groups: list[torch.Tensor] = [torch.empty(0)] * self.groups
        for k in reversed(range(self.groups)):
            groups[k] = torch.randn((n, *shapes[k]), generator=generator, device=device)
            times = torch.linspace(edges[k + 1], edges[k], per_interval + 1, device=device)
            for i in range(per_interval):
                last = k == 0 and i == per_interval - 1
                groups[k:] = self._step(k, groups[k:], times[i], times[i + 1], options["name"], not last,
                                        generator)
        if options.get("denoise", True):
            t = torch.full((n,), eps, device=device)
            predicted = self._predict(0, groups, t)
            groups = [(x - _bcast(sigma, x) * e) / _bcast(alpha, x) for x, e, (alpha, sigma) in
                      zip(groups, predicted, (sde.marginal_coefficients(t) for sde in self.sdes))]
        return reconstruct(groups)

    def _predict(self, k, groups, t):
        self.network_evaluations += 1
        return self.predict_noise(k, groups, t)

    def _step(self, k, groups, t_now, t_next, name, add_noise, generator):
        """One step of every group k..G from t_now down to t_next with network k, each by its own SDE."""
        t, s = t_now.expand(len(groups[0])), t_next.expand(len(groups[0]))
        predicted = self._predict(k, groups, t)
        stepped = []
        for sde, x, e in zip(self.sdes[k:], groups, predicted):
            alpha_t, sigma_t = sde.marginal_coefficients(t)
            if name == "ddim":  # deterministic DDIM: x_s = alpha_s x0_hat + sigma_s eps_hat
                alpha_s, sigma_s = sde.marginal_coefficients(s)
                x0_hat = (x - _bcast(sigma_t, x) * e) / _bcast(alpha_t, x)
                stepped.append(_bcast(alpha_s, x) * x0_hat + _bcast(sigma_s, x) * e)
            else:  # Euler-Maruyama on the reverse SDE, score = -eps / sigma
                dt = t_next - t_now
                score = -e / _bcast(sigma_t, x)
                x = x + sde.reverse_drift(x, t, score) * dt
                if add_noise:
                    x = x + _bcast(sde.diffusion(t), x) * math.sqrt(-float(dt)) * torch.randn(
                        x.shape, generator=generator, device=x.device)
                stepped.append(x)
        return stepped
