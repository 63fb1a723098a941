"""MLPs on flattened inputs."""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab.nn.embeddings import SinusoidalEmbedding


ACTIVATIONS = {"silu": nn.SiLU, "leaky_relu": lambda: nn.LeakyReLU(0.2)}
OUTPUTS = {"linear": nn.Identity, "tanh": nn.Tanh}


class MLP(nn.Sequential):
    """Plain MLP: in -> [Linear, (BatchNorm), activation] per hidden layer -> Linear -> output.

    ``hidden`` is one width repeated ``depth`` times, or a list of widths (then ``depth`` is its length).
    ``batch_norm`` normalises every hidden layer but the first, as the MLP GAN of PyTorch-GAN does
    (eriklindernoren/PyTorch-GAN implementations/gan/gan.py: BatchNorm1d(width, 0.8), where 0.8 lands in
    the eps argument; kept, since it is what that generator trains with); ``leaky_relu`` has slope 0.2."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int | list[int], depth: int | None = None,
                 activation: str = "silu", batch_norm: bool = False, output: str = "linear"):
        if not isinstance(hidden, (list, tuple)) and depth is None:
            raise ValueError(f"MLP: a single hidden width {hidden} needs a depth (or give the list of widths)")
        widths = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * depth
        if depth is not None and depth != len(widths):
            raise ValueError(f"MLP: depth {depth} does not match the {len(widths)} hidden widths {hidden}")
        layers, width = [], in_dim
        for index, size in enumerate(widths):
            layers.append(nn.Linear(width, size))
            if batch_norm and index > 0:
                layers.append(nn.BatchNorm1d(size, eps=0.8))
            layers.append(ACTIVATIONS[activation]())
            width = size
        super().__init__(*layers, nn.Linear(width, out_dim), OUTPUTS[output]())


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1, self.fc2 = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.emb = nn.Linear(emb_dim, 2 * hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, emb):
        scale, shift = self.emb(emb).chunk(2, dim=1)
        out = self.norm(h) * (1 + scale) + shift
        out = self.fc2(self.dropout(nn.functional.silu(self.fc1(nn.functional.silu(out)))))
        return h + out


class ConditionalMLP(nn.Module):
    """Residual MLP for vector data (or images flattened), conditioned on a scalar noise level (FiLM in
    every block) and, optionally, a conditioning vector of size cond_dim concatenated to the input. Why the
    input and not the FiLM embedding: a diffused condition y_t (CDiffE, CMDE) is noise at large t, and
    added to the embedding it would blur the noise level every block relies on; as input features it
    makes the network the joint score network (x_t, y_t) -> eps_x of Batzolis et al. Output shaped like x,
    or a vector of ``out_dim`` (a time-dependent encoder, e.g. ScoreVAE's q(z | x_t, t))."""

    def __init__(self, example_shape, hidden: int = 256, depth: int = 3, embedding: int = 128,
                 dropout: float = 0.0, cond_dim: int = 0, out_dim: int | None = None):
        super().__init__()
        self.example_shape = tuple(example_shape)
        dim = math.prod(self.example_shape)
        self.noise_embedding = SinusoidalEmbedding(embedding)
        self.cond_dim = cond_dim
        self.inp = nn.Linear(dim + cond_dim, hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden, embedding, dropout) for _ in range(depth))
        self.out_dim = out_dim
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.SiLU(), nn.Linear(hidden, out_dim or dim))

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor, cond: torch.Tensor | None = None):
        emb = self.noise_embedding(noise_level)
        inputs = x.flatten(1) if not self.cond_dim else torch.cat([x.flatten(1), cond.flatten(1).to(x.dtype)], 1)
        h = self.inp(inputs)
        for block in self.blocks:
            h = block(h, emb)
        out = self.out(h)
        return out if self.out_dim else out.view_as(x)
