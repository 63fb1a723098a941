"""Autoregressive models (seed section 1.1.6): MADE (Germain et al. 2015), one masked MLP whose output for
dimension d sees only dimensions < d (raster order), so p(x) = prod_d p(x_d | x_<d) is exact and the
whole likelihood costs one network pass, while sampling costs D passes, one per dimension.

Each conditional is a categorical over the dataset's grey levels (quantised images: the discrete likelihood is
exact, and as a density over dequantised points it is P(bin) / bin_width^D); a mixture of discretised logistics
over those levels (PixelCNN++, Salimans et al. 2017: 3 numbers per component instead of one logit per level, for
256 levels; the outermost levels take the tails, so a background pixel can have all the mass); or a mixture of
Gaussians (continuous data such as the 2-D toys)."""

from __future__ import annotations

import math
from typing import Any

import torch
import zuko
from torch import nn
from torch.nn.functional import log_softmax

from genlab.errors import ConfigError
from genlab.families import CAPABILITIES
from genlab.families.base import Family

OUTPUTS = ("categorical", "logistic", "mixture")
QUANTISED = ("categorical", "logistic")  # outputs over the dataset's grey levels
LOGISTIC_MIN_LOG_SCALE = -7.0  # PixelCNN++'s floor: a component narrower than a bin needs no smaller scale


class Autoregressive(Family):
    capabilities = CAPABILITIES["autoregressive"]
    def __init__(self, example_shape, output: str = "categorical", hidden: int = 512, depth: int = 2,
                 components: int = 8, levels: int | None = None, bin_width: float | None = None):
        super().__init__(example_shape)
        if output not in OUTPUTS:
            raise ValueError(f"unknown autoregressive output {output!r}; choose one of {OUTPUTS}")
        self.output, self.levels, self.bin_width = output, levels, bin_width
        self.params_per_dim = levels if output == "categorical" else 3 * components
        adjacency = torch.tril(torch.ones(self.dim, self.dim, dtype=torch.bool), diagonal=-1)
        self.net = zuko.nn.MaskedMLP(adjacency.repeat_interleave(self.params_per_dim, dim=0),
                                     [hidden] * depth, activation=nn.SiLU)
        self.register_buffer("low", torch.zeros(()))  # value of grey level 0 (categorical, logistic)

    @classmethod
    def from_config(cls, example_shape, options: dict[str, Any], meta: dict[str, Any]) -> "Autoregressive":
        output = options.get("output", "categorical")
        if output in QUANTISED:
            if "levels" not in meta:
                raise ConfigError(f"an autoregressive model with output {output!r} needs quantised data "
                                  "(a dataset with levels and bin_width, e.g. digits); use output: mixture")
            options = {**options, "levels": meta["levels"], "bin_width": meta["bin_width"]}
        return cls(example_shape, **options)

    def initialize(self, x_train: torch.Tensor) -> None:
        if self.output in QUANTISED:
            self.low.fill_(float(x_train.min()))

    def _conditionals(self, x_flat: torch.Tensor) -> torch.Tensor:
        return self.net(x_flat).view(len(x_flat), self.dim, self.params_per_dim)

    def _level(self, x_flat: torch.Tensor) -> torch.Tensor:
        return torch.round((x_flat - self.low) / self.bin_width).long().clamp(0, self.levels - 1)

    def _dim_log_prob(self, out: torch.Tensor, x_flat: torch.Tensor) -> torch.Tensor:
        """log p(x_d | x_<d) for every d, shape (N, D)."""
        if self.output == "categorical":
            return log_softmax(out, -1).gather(-1, self._level(x_flat)[..., None])[..., 0]
        if self.output == "logistic":
            return self._logistic_log_prob(out, self._level(x_flat))
        logits, means, log_stds = out.chunk(3, dim=-1)
        z = (x_flat[..., None] - means) * torch.exp(-log_stds)
        component = -0.5 * z.pow(2) - log_stds - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(log_softmax(logits, -1) + component, dim=-1)

    def _logistic_log_prob(self, out: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """log P(level) under the mixture of logistics discretised to the bins [c - b/2, c + b/2] of the levels'
        centres c, the first and last bins open to -inf and +inf. With u, v the standardised upper and lower
        edges (u - v = b / s > 0): log(sigmoid(u) - sigmoid(v)) = log sigmoid(u) + log(-expm1(v - u)) -
        softplus(v), exact and free of the cancellation of subtracting two sigmoids; log sigmoid(u) is
        u - softplus(u), so two softplus serve all three cases (the log-probability costs more than the network)."""
        logits, means, log_scales = out.chunk(3, dim=-1)
        inverse_scale = torch.exp(-log_scales.clamp(min=LOGISTIC_MIN_LOG_SCALE))
        centre = (self.low + level * self.bin_width)[..., None]
        upper = (centre + self.bin_width / 2 - means) * inverse_scale
        lower = upper - self.bin_width * inverse_scale
        softplus = torch.nn.functional.softplus
        first, last = upper - softplus(upper), -softplus(lower)  # log sigmoid(u), log(1 - sigmoid(v))
        interior = first + torch.log(-torch.expm1(-self.bin_width * inverse_scale)) + last
        levels = level[..., None].expand_as(upper)
        log_p = torch.where(levels == 0, first, torch.where(levels == self.levels - 1, last, interior))
        return torch.logsumexp(log_softmax(logits, -1) + log_p, dim=-1)

    def log_likelihood(self, x, generator=None):
        x_flat = x.to(self.device).flatten(1)
        if self.output in QUANTISED:  # the network sees the grey level the point falls in
            x_flat = self.low + self._level(x_flat) * self.bin_width
            return self._dim_log_prob(self._conditionals(x_flat), x_flat).sum(1) \
                - self.dim * math.log(self.bin_width)
        return self._dim_log_prob(self._conditionals(x_flat), x_flat).sum(1)

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": -self.log_likelihood(batch["x"]).mean() / self.dim}

    def _masked_layers(self) -> list:
        """The network's layers with each mask applied once: zuko's MaskedLinear multiplies mask and weight on
        every call, and sampling calls the network D times (MNIST's output layer alone has 24M entries)."""
        return [(layer.mask * layer.weight, layer.bias) if isinstance(layer, zuko.nn.MaskedLinear) else layer
                for layer in self.net]

    def _conditional(self, layers: list, x_flat: torch.Tensor, d: int) -> torch.Tensor:
        """The parameters of p(x_d | x_<d) alone, shape (N, params_per_dim): the hidden layers, then only the
        output rows of dimension d (one D-th of the last layer, which holds most of the work)."""
        h = x_flat
        *hidden, (weight, bias) = layers
        for layer in hidden:
            h = torch.nn.functional.linear(h, *layer) if isinstance(layer, tuple) else layer(h)
        rows = slice(d * self.params_per_dim, (d + 1) * self.params_per_dim)
        return torch.nn.functional.linear(h, weight[rows], bias[rows])

    @torch.no_grad()
    def sample(self, n, generator=None, **options):
        x = torch.zeros(n, self.dim, device=self.device)
        layers = self._masked_layers()
        for d in range(self.dim):  # one pass per dimension: x_d depends on the x_<d drawn so far
            self.network_evaluations += 1
            out = self._conditional(layers, x, d)
            if self.output == "categorical":
                level = torch.multinomial(torch.softmax(out, -1), 1, generator=generator)[:, 0]
                x[:, d] = self.low + level * self.bin_width
            elif self.output == "logistic":  # a logistic draw rounded to its bin: the discretised law exactly
                logits, means, log_scales = out.chunk(3, dim=-1)
                k = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
                u = torch.rand(n, generator=generator, device=self.device).clamp(1e-6, 1 - 1e-6)
                scale = torch.exp(log_scales.gather(1, k)[:, 0].clamp(min=LOGISTIC_MIN_LOG_SCALE))
                value = means.gather(1, k)[:, 0] + scale * (torch.log(u) - torch.log1p(-u))
                x[:, d] = self.low + self._level(value) * self.bin_width
            else:
                logits, means, log_stds = out.chunk(3, dim=-1)
                k = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
                noise = torch.randn(n, generator=generator, device=self.device)
                x[:, d] = means.gather(1, k)[:, 0] + torch.exp(log_stds.gather(1, k)[:, 0]) * noise
        return x.view(n, *self.example_shape)
