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
                 generator: torch.Generator | None = None, conditions: torch.Tensor | None = None
                 ) -> dict[str, float]:
    """Mean and standard error of bits/dim over the examples in x.

    ``log_likelihood_fn(batch)`` returns the log-likelihoods, or a dict of them whose entry
    ``log_likelihood`` is the reported one and whose other entries (bounds such as the ELBO) are reported
    as ``<name>_bpd`` on the same dequantised examples. With ``conditions`` (one per example) it is
    ``log_likelihood_fn(batch, their conditions)``: log p(x | y), for conditional models."""
    dim = x[0].numel()
    values: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(x), batch_size):
        batch = x[i:i + batch_size]
        if bin_width is not None:
            batch = dequantize(batch, bin_width, generator)
        if conditions is None:
            outputs = log_likelihood_fn(batch)
        else:
            outputs = log_likelihood_fn(batch, conditions[i:i + batch_size])
        if not isinstance(outputs, dict):
            outputs = {"log_likelihood": outputs}
        for name, value in outputs.items():
            values.setdefault(name, []).append(bits_per_dim(value.detach().double().cpu(), dim, bin_width))
    bpd = {name: torch.cat(chunks) for name, chunks in values.items()}
    for name, value in bpd.items():
        if not torch.isfinite(value).all():
            raise NumericsError(f"{name} is not finite for {int((~torch.isfinite(value)).sum())} of "
                                f"{len(value)} examples; check the model checkpoint or the likelihood tolerances")
    main = bpd.pop("log_likelihood")
    return {"nll_bpd": float(main.mean()), "nll_bpd_sem": float(main.std() / math.sqrt(len(main))),
            **{f"{name}_bpd": float(value.mean()) for name, value in bpd.items()},
            "n_examples": len(main), "dequantized": bin_width is not None}
