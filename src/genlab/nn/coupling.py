"""The diffeomorphism of Diepeveen, Batzolis et al.'s reference code for score-based pullback geometry
(GBATZOLIS/Score-Based-Pullback-Riemannian-Geometry, src/diffeomorphisms/euclidean_diffeomorphism.py):
RealNVP affine couplings with alternating masks, nflows' residual conditioner, and a bounded scale
sigmoid(u + 2) + 1e-3 in (0.001, 1.001). The bound means the data -> latent map can barely expand volume,
so concentrated data are fitted by shrinking the base variances: the anisotropy the pullback metric and
the Riemannian auto-encoder read. No permutations, normalisation or dropout, as in the authors' configs."""

from __future__ import annotations

import torch
from torch import nn


class ResidualNet(nn.Module):
    """nflows' ResidualNet: Linear(in, hidden), ``blocks`` pre-activation residual blocks
    x + Linear(ReLU(Linear(ReLU(x)))) whose last layer starts near zero (U(-1e-3, 1e-3)), Linear(hidden, out)."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 64, blocks: int = 2):
        super().__init__()
        self.initial = nn.Linear(in_features, hidden)
        self.blocks = nn.ModuleList()
        for _ in range(blocks):
            block = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            nn.init.uniform_(block[-1].weight, -1e-3, 1e-3)
            nn.init.uniform_(block[-1].bias, -1e-3, 1e-3)
            self.blocks.append(block)
        self.final = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.initial(x)
        for block in self.blocks:
            h = h + block(h)
        return self.final(h)


class AffineCoupling(nn.Module):
    """y_T = x_T * scale(x_I) + shift(x_I) on the transformed features T (every other feature, starting at
    0 or 1), y_I = x_I; log|det| = sum log scale."""

    def __init__(self, dim: int, even: bool, hidden: int, blocks: int):
        super().__init__()
        transformed = torch.arange(0 if even else 1, dim, 2)
        identity = torch.arange(1 if even else 0, dim, 2)  # empty for one feature: an input-independent map
        self.register_buffer("transformed", transformed, persistent=False)
        self.register_buffer("identity", identity, persistent=False)
        self.net = ResidualNet(max(len(identity), 1), 2 * len(transformed), hidden, blocks)

    def _scale_shift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        condition = x.index_select(-1, self.identity) if len(self.identity) else torch.zeros_like(x[..., :1])
        params = self.net(condition)
        n = len(self.transformed)
        return torch.sigmoid(params[..., n:] + 2) + 1e-3, params[..., :n]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self._scale_shift(x)
        y = x.index_copy(-1, self.transformed, x.index_select(-1, self.transformed) * scale + shift)
        return y, torch.log(scale).sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        scale, shift = self._scale_shift(y)  # the identity features are unchanged, so y gives the same scale
        return y.index_copy(-1, self.transformed, (y.index_select(-1, self.transformed) - shift) / scale)


class CouplingFlow(nn.Module):
    """phi: data -> latent, ``layers`` affine couplings alternating which half they transform."""

    def __init__(self, dim: int, layers: int = 2, hidden: int = 64, blocks: int = 2):
        super().__init__()
        self.layers = nn.ModuleList(AffineCoupling(dim, i % 2 == 0, hidden, blocks) for i in range(layers))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(phi(x), log|det J_phi(x)|)."""
        ladj = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, layer_ladj = layer(x)
            ladj = ladj + layer_ladj
        return x, ladj

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z
