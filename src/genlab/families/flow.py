"""Normalizing flows (seed section 1.1.5) through zuko: MAF (affine autoregressive), NSF (rational-
quadratic spline autoregressive) and RealNVP (affine coupling). The log-likelihood is exact (change of
variables); on quantised images it is evaluated at dequantised points, so bits/dim count the bin width.

Sampling inverts the transforms: one network pass per coupling layer, but D passes per autoregressive
layer (each dimension waits for the previous ones), which the NFE column shows."""

from __future__ import annotations

from typing import Any

import torch
import zuko

from genlab.families import CAPABILITIES
from genlab.families.base import Family

KINDS = {"maf": zuko.flows.MAF, "nsf": zuko.flows.NSF, "realnvp": zuko.flows.RealNVP}


def make_zuko_flow(kind: str, dim: int, transforms: int, hidden: int, depth: int, bins: int):
    """zuko's flow of ``kind`` on ``dim`` features (``depth`` hidden layers of width ``hidden``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown flow kind {kind!r}; choose one of {sorted(KINDS)}")
    options: dict[str, Any] = {"transforms": transforms, "hidden_features": [hidden] * depth}
    if kind == "nsf":
        options["bins"] = bins
    return KINDS[kind](dim, **options)


def passes_to_invert(kind: str, transforms: int, dim: int) -> int:
    """Network passes to invert the flow: 1 per coupling layer, one per dimension per autoregressive layer."""
    return transforms * (1 if kind in ("realnvp", "affine") or dim == 1 else dim)


class Flow(Family):
    capabilities = CAPABILITIES["flow"]
    def __init__(self, example_shape, kind: str = "maf", transforms: int = 5, hidden: int = 256,
                 depth: int = 2, bins: int = 8):
        super().__init__(example_shape)
        self.flow = make_zuko_flow(kind, self.dim, transforms, hidden, depth, bins)
        self.passes_per_sample = passes_to_invert(kind, transforms, self.dim)

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
