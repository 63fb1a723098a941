"""The orthonormal 2-D Haar transform and the multi-scale split of an image into coefficient groups.

One level maps an image (B, C, H, W) to (B, 4C, H/2, W/2): for each 2x2 block [[a, b], [c, d]] the four
coefficients (a+b+c+d)/2 (the approximation), (a-b+c-d)/2, (a+b-c-d)/2 and (a-b-c+d)/2 (the details), so
the transform is orthogonal (tested): it keeps the Gaussian noise of a diffusion white and the score of
a density in pixels is the transformed score in coefficients. The approximation's scale doubles per
level, as in the authors' Haar layer (iunets' InvertibleDownsampling2D initialised to Haar, orthogonal by
its Cayley construction, in GBATZOLIS/MSDiff).

`decompose(x, levels)` gives the groups [d_1, ..., d_L, a_L]: d_k the details of level k (d_1 the finest,
3C channels at H/2^k) and a_L the coarsest approximation (C channels at H/2^L). `reconstruct` inverts
any coarse tail of that list: the groups [d_k, ..., d_L, a_L] give a_{k-1}, the image at resolution
H/2^(k-1) (a_0 = x)."""

from __future__ import annotations

import torch


def haar_forward(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): channels [approximation (C), details (3C)]."""
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return torch.cat([(a + b + c + d) / 2, (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2], 1)


def haar_inverse(y: torch.Tensor) -> torch.Tensor:
    """The inverse (and transpose) of haar_forward."""
    s, h, v, g = y.chunk(4, dim=1)
    out = y.new_empty(s.shape[0], s.shape[1], 2 * s.shape[2], 2 * s.shape[3])
    out[..., 0::2, 0::2] = (s + h + v + g) / 2
    out[..., 0::2, 1::2] = (s - h + v - g) / 2
    out[..., 1::2, 0::2] = (s + h - v - g) / 2
    out[..., 1::2, 1::2] = (s - h - v + g) / 2
    return out


def decompose(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[d_1, ..., d_L, a_L] of an image whose sides 2^levels divides."""
    channels, groups = x.shape[1], []
    for _ in range(levels):
        y = haar_forward(x)
        x = y[:, :channels]
        groups.append(y[:, channels:])
    return [*groups, x]


def reconstruct(groups: list[torch.Tensor]) -> torch.Tensor:
    """The image at the finest resolution the groups reach: [d_k, ..., d_L, a_L] -> a_{k-1}."""
    x = groups[-1]
    for details in reversed(groups[:-1]):
        x = haar_inverse(torch.cat([x, details], 1))
    return x


def check_levels(shape: tuple[int, ...], levels: int) -> None:
    """A ValueError naming the problem where an image of ``shape`` (C, H, W) cannot be split ``levels`` times."""
    if len(shape) != 3:
        raise ValueError(f"the Haar split needs images (C, H, W), got shape {tuple(shape)}")
    factor = 2**levels
    if levels < 1 or shape[1] % factor or shape[2] % factor:
        raise ValueError(f"{levels} Haar levels need H and W divisible by {factor}, got {shape[1]}x{shape[2]}")
