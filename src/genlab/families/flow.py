"""Normalizing flows (seed section 1.1.5) through zuko: MAF (affine autoregressive), NSF (rational-
quadratic spline autoregressive) and RealNVP (affine coupling). The log-likelihood is exact (change of
variables); on quantised images it is evaluated at dequantised points, so bits/dim count the bin width.

Sampling inverts the transforms: one network pass per coupling layer, but D passes per autoregressive
layer (each dimension waits for the previous ones), which the NFE column shows."""

from __future__ import annotations

from typing import Any

import torch
import zuko

from genlab.families.base import Family

KINDS = {"maf": zuko.flows.MAF, "nsf": zuko.flows.NSF, "realnvp": zuko.flows.RealNVP}


class Flow(Family):
    def __init__(self, example_shape, kind: str = "maf", transforms: int = 5, hidden: int = 256,
                 depth: int = 2, bins: int = 8):
        super().__init__(example_shape)
        if kind not in KINDS:
            raise ValueError(f"unknown flow kind {kind!r}; choose one of {sorted(KINDS)}")
        options: dict[str, Any] = {"transforms": transforms, "hidden_features": [hidden] * depth}
        if kind == "nsf":
            options["bins"] = bins
        self.flow = KINDS[kind](self.dim, **options)
        # network passes to invert one layer: 1 for a coupling layer, one per dimension otherwise
        self.passes_per_sample = transforms * (1 if kind == "realnvp" or self.dim == 1 else self.dim)

    def log_likelihood(self, x, generator=None):
        return self.flow().log_prob(x.to(self.device).flatten(1))

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"loss": -self.log_likelihood(batch["x"]).mean() / self.dim}

    @torch.no_grad()
    def sample(self, n, generator=None, **options):
        distribution = self.flow()
        base = distribution.base
        noise = torch.randn(n, self.dim, generator=generator, device=self.device)
        self.network_evaluations += self.passes_per_sample
        x = distribution.transform.inv(base.mean + base.stddev * noise)
        return x.view(n, *self.example_shape)
