"""The intrinsic-dimension paper's auto-encoder check (Stanczuk, Batzolis et al. 2024, its MNIST figure,
GBATZOLIS/ID-diff figures/paper/mnist_autoencoder.png): auto-encoders of increasing latent size trained on
the same data; the held-out reconstruction error falls steeply while the latent is too small for the
manifold and flattens once it holds it, so the size where it flattens is an independent reading of the
dimension to set beside the score-spectrum estimate and the baselines.

All latent sizes train together as one batch of networks, one batched matmul per layer (one loop instead of
one per size; its seconds against one size at a time: benchmarks/autoencoder_dim.py). Every network has the
largest latent width; a network of latent size L multiplies the units from L on by zero, so they receive no
gradient and contribute nothing: it is exactly an auto-encoder with L latent units. All networks see the
same minibatches (common random numbers: differences between sizes are not sampling noise)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from genlab.errors import ConfigError, NumericsError

# The knee: the smallest latent size whose held-out error is within this share of the data's variance of
# the best size's. A coordinate of a d-dimensional manifold whose coordinates share the variance about equally
# carries about 1/d of it (2% at d = 50): leaving one out costs more than this, so the knee does not stop
# short, while the best sizes' own differences (optimisation noise, 0.1-0.3% here) stay below it.
KNEE_TOLERANCE = 0.01


class BatchedLinear(torch.nn.Module):
    """``models`` independent linear layers applied to (models, batch, in) at once, each initialised as
    torch.nn.Linear is (uniform in +-1/sqrt(in))."""

    def __init__(self, models: int, n_in: int, n_out: int, generator: torch.Generator) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = torch.nn.Parameter((torch.rand(models, n_in, n_out, generator=generator) * 2 - 1) * bound)
        self.bias = torch.nn.Parameter((torch.rand(models, 1, n_out, generator=generator) * 2 - 1) * bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class AutoEncoders(torch.nn.Module):
    """One MLP auto-encoder per latent size: D -> width x depth -> L -> width x depth -> D, SiLU."""

    def __init__(self, dim: int, latent_sizes: list[int], width: int, depth: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        models, latent = len(latent_sizes), max(latent_sizes)

        def mlp(n_in: int, n_out: int) -> torch.nn.Sequential:
            sizes = [n_in, *[width] * depth, n_out]
            layers: list[torch.nn.Module] = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers += [BatchedLinear(models, a, b, generator), *([torch.nn.SiLU()] if i < depth else [])]
            return torch.nn.Sequential(*layers)

        self.encoder, self.decoder = mlp(dim, latent), mlp(latent, dim)
        mask = torch.arange(latent)[None, :] < torch.tensor(latent_sizes)[:, None]
        self.register_buffer("mask", mask.float()[:, None, :])  # (models, 1, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, D) -> every model's reconstruction (models, batch, D)."""
        z = self.encoder(x.expand(len(self.mask), *x.shape)) * self.mask
        return self.decoder(z)


def reconstruction_errors(x_train: np.ndarray, x_test: np.ndarray, latent_sizes: list[int], settings: dict[str, Any],
                          seed: int, progress: bool = False) -> list[dict[str, Any]]:
    """Train one auto-encoder per latent size on x_train (Adam, cosine-decayed learning rate, squared error)
    and return per size its held-out mean squared error per coordinate, also relative to the held-out
    data's variance (the error of reconstructing every point by the training mean), and the knee flag."""
    if sorted(set(latent_sizes)) != list(latent_sizes) or latent_sizes[0] < 1:
        raise ConfigError(f"latent_sizes {latent_sizes}: give distinct positive sizes in increasing order")
    x_train = torch.as_tensor(x_train.reshape(len(x_train), -1), dtype=torch.float32)
    x_test = torch.as_tensor(x_test.reshape(len(x_test), -1), dtype=torch.float32)
    model = AutoEncoders(x_train.shape[1], latent_sizes, settings["width"], settings["depth"], seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    steps, batch_size = settings["steps"], settings["batch_size"]
    generator = torch.Generator().manual_seed(seed + 1)
    started = time.perf_counter()
    for step in tqdm(range(steps), disable=not progress, desc="auto-encoders"):
        for group in optimiser.param_groups:  # cosine decay to zero
            group["lr"] = settings["lr"] * 0.5 * (1 + math.cos(math.pi * step / steps))
        x = x_train[torch.randint(len(x_train), (batch_size,), generator=generator)]
        # summed over models: each model's gradient is its own mean squared error's
        loss = (model(x) - x).pow(2).mean(dim=(1, 2)).sum()
        if not torch.isfinite(loss):
            raise NumericsError(f"auto-encoder loss became {float(loss)} at step {step}; lower the autoencoder lr")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        errors = (model(x_test) - x_test).pow(2).mean(dim=(1, 2)).tolist()
    variance = float((x_test - x_train.mean(0)).pow(2).mean())
    relative = [error / variance for error in errors]
    knee = knee_of(latent_sizes, relative)
    return [{"latent_dim": size, "test_mse": error, "relative_error": rel, "knee": size == knee,
             "seconds": seconds / len(latent_sizes)}
            for size, error, rel in zip(latent_sizes, errors, relative)]


def knee_of(latent_sizes: list[int], relative_errors: list[float], tolerance: float = KNEE_TOLERANCE) -> int:
    """The smallest latent size whose error (relative to the data's variance) is within ``tolerance`` of the
    smallest error of all sizes."""
    best = min(relative_errors)
    return next(size for size, error in zip(latent_sizes, relative_errors) if error <= best + tolerance)
