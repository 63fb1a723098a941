"""Embeddings of a scalar per example (a noise level, a time)."""

import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sin/cos features of a scalar at geometrically spaced frequencies, then an MLP."""

    def __init__(self, dim: int, max_period: float = 1e4, scale: float = 250.0):
        super().__init__()
        self.dim, self.max_period, self.scale = dim, max_period, scale
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(self.max_period) * torch.arange(half, device=value.device) / half)
        angles = self.scale * value.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([torch.sin(angles), torch.cos(angles)], dim=1))
