"""Negative log-likelihood in bits per dimension.

For quantised data (images with bin width w in data units) the model density is evaluated at uniformly
dequantised points u = x + w (U - 1/2), and -log2 P(x) <= -log2 p(u) - D log2 w (Jensen): we report that
bound per dimension, so a uniform model over L levels scores exactly log2 L, as tables expect. For
continuous data it is the differential -log2 p(x) / D (can be negative)."""

from __future__ import annotations

import math

import torch

from genlab.errors import NumericsError


def dequantize(x: torch.Tensor, bin_width: float, generator: torch.Generator | None = None) -> torch.Tensor:
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    return x + bin_width * (u.to(x.device) - 0.5)


def bits_per_dim(log_likelihood: torch.Tensor, dim: int, bin_width: float | None = None) -> torch.Tensor:
    bpd = -log_likelihood / (dim * math.log(2))
    if bin_width is not None:
        bpd = bpd - math.log2(bin_width)
    return bpd


def evaluate_nll(log_likelihood_fn, x: torch.Tensor, bin_width: float | None, batch_size: int,
                 generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean and standard error of bits/dim over the examples in x."""
    dim = x[0].numel()
    values = []
    for i in range(0, len(x), batch_size):
        batch = x[i:i + batch_size]
        if bin_width is not None:
            batch = dequantize(batch, bin_width, generator)
        values.append(bits_per_dim(log_likelihood_fn(batch).detach().double().cpu(), dim, bin_width))
    bpd = torch.cat(values)
    if not torch.isfinite(bpd).all():
        raise NumericsError(f"log-likelihood is not finite for {int((~torch.isfinite(bpd)).sum())} of "
                            f"{len(bpd)} examples; check the model checkpoint or the likelihood tolerances")
    return {"nll_bpd": float(bpd.mean()), "nll_bpd_sem": float(bpd.std() / math.sqrt(len(bpd))),
            "n_examples": len(bpd), "dequantized": bin_width is not None}
