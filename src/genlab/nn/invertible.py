"""Invertible layers of multi-scale image flows (Glow / RealNVP), as CAFLOW's code builds them
(GBATZOLIS/CAFLOW, caflow/models/modules/blocks): the squeeze (FrEIA's IRevNetDownsampling: 2x2 blocks to
channels), FrEIA's ActNorm (per-channel affine, initialised from the first batch), Glow's 1x1 convolution (a
random orthogonal start, in Glow's LU form), the one-sided affine coupling (GLOW-style, the scale soft-
clamped by atan to exp(+-2)) and the affine injector (ConditionalAffineTransform: scale and shift from the
condition alone, tanh-bounded by a learnable per-channel factor). Each is a few lines of torch; the library
they come from (FrEIA) would add a dependency for no layer that is not here, and the family's tests check the
log-determinants against brute-force Jacobians.

Every layer maps (h, condition) -> (h', log|det dh'/dh| per example) and inverts with ``inverse``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block becomes 4 channels (a permutation: log|det| = 0)."""
    return F.pixel_unshuffle(x, 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    return F.pixel_shuffle(x, 2)


def pixels(h: torch.Tensor) -> int:
    return h.shape[2] * h.shape[3]


class LogitTransform(nn.Module):
    """Images in [-1, 1], dequantised by noise of ``bin_width``, to logits: p = (h + 1 + w/2) / (2 + w) in (0, 1),
    squeezed to [alpha/2, 1 - alpha/2], then log(p / (1 - p)) (the authors' Dequantisation layer: (k + U) /
    levels, then the inverse sigmoid, alpha = 1e-5). It spreads a background that is one grey level plus noise
    (the border of a digit) over several units: ActNorm, initialised on it, would otherwise scale a near-constant
    channel by 1/std, hundreds, and one optimiser step on the next coupling's shift explodes through the stack."""

    alpha = 1e-5

    def __init__(self, bin_width: float):
        super().__init__()
        self.bin_width = bin_width

    def forward(self, h, condition=None):
        p = (h + 1 + self.bin_width / 2) / (2 + self.bin_width)
        p = self.alpha / 2 + (1 - self.alpha) * p
        log_det = (math.log((1 - self.alpha) / (2 + self.bin_width)) - torch.log(p) - torch.log1p(-p)).flatten(1).sum(1)
        return torch.log(p) - torch.log1p(-p), log_det

    def inverse(self, h, condition=None):
        p = (torch.sigmoid(h) - self.alpha / 2) / (1 - self.alpha)
        return p * (2 + self.bin_width) - 1 - self.bin_width / 2


class ActNorm(nn.Module):
    """h' = (h + bias) * exp(log_scale) per channel; before its first use (``initialized`` is 0) bias and scale
    are set so that the batch it sees comes out with zero mean and unit variance per channel (Glow)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))  # saved with the checkpoint
        self.checked = False  # the buffer read once per process: reading it every step is a GPU sync per layer

    def forward(self, h, condition=None):
        if not self.checked:
            if not self.initialized:
                with torch.no_grad():
                    self.bias.copy_(-h.mean(dim=(0, 2, 3), keepdim=True))
                    self.log_scale.copy_(-torch.log(h.std(dim=(0, 2, 3), keepdim=True) + 1e-6))
                    self.initialized.fill_(1)
            self.checked = True
        return (h + self.bias) * torch.exp(self.log_scale), self.log_scale.sum() * pixels(h) * h.new_ones(len(h))

    def inverse(self, h, condition=None):
        return h * torch.exp(-self.log_scale) - self.bias


class InvertibleConv1x1(nn.Module):
    """Glow's invertible 1x1 convolution, a channel mixing W = P L (U + diag(sign * exp(log_s))) in Glow's LU
    form (P a fixed permutation, L unit lower-, U strictly upper-triangular; from a random orthogonal start):
    log|det| = sum(log_s) * pixels. The authors take slogdet of a plain W; on a GPU that is a solver call and a
    host sync per layer, and their thesis-scale flow (about 230 such layers) ran at 1.6 steps/s on an H100."""

    def __init__(self, channels: int):
        super().__init__()
        permutation, lower, upper = torch.linalg.lu(torch.linalg.qr(torch.randn(channels, channels))[0])
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation)
        self.register_buffer("sign", torch.sign(diagonal))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(diagonal.abs()))

    def weight(self) -> torch.Tensor:
        eye = torch.eye(len(self.log_s), dtype=self.log_s.dtype, device=self.log_s.device)
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_s))
        return self.permutation @ (self.lower * self.lower_mask + eye) @ upper

    def forward(self, h, condition=None):
        return F.conv2d(h, self.weight()[:, :, None, None]), self.log_s.sum() * pixels(h) * h.new_ones(len(h))

    def inverse(self, h, condition=None):
        inverse = torch.linalg.inv(self.weight().double()).to(h.dtype)
        return F.conv2d(h, inverse[:, :, None, None])


def conv_net(in_channels: int, out_channels: int, hidden: int, norm: bool = False) -> nn.Sequential:
    """The authors' SimpleConvNet: conv3x3, ReLU, conv1x1, ReLU, conv3x3 started at zero (the layer it
    parameterises starts as the identity). With ``norm``, group normalisation after each hidden convolution
    (up to 8 groups of at least 4 channels: at the coarsest scale a map is 1 or 2 pixels wide), where OpenAI
    Glow puts ActNorm: the output then no longer grows with the input's scale, which in the authors'
    unnormalised net compounds over the 64+ couplings of their thesis-scale flows until they overflow
    (benchmarks/results/caflow_gpu.md)."""
    def normalised(conv: nn.Module) -> list[nn.Module]:
        return [conv, nn.GroupNorm(math.gcd(8, max(1, hidden // 4)), hidden)] if norm else [conv]

    net = nn.Sequential(*normalised(nn.Conv2d(in_channels, hidden, 3, padding=1)), nn.ReLU(),
                        *normalised(nn.Conv2d(hidden, hidden, 1)), nn.ReLU(),
                        nn.Conv2d(hidden, out_channels, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class AffineCoupling(nn.Module):
    """h = (h1, h2) along channels; h2' = h2 * exp(s) + t with (s, t) from (h1, condition), s = 2 * 0.636 *
    atan(.) in (-2, 2) (FrEIA's ATAN clamp at 2: AffineCouplingOneSided); h1 passes unchanged."""

    clamp = 2.0

    def __init__(self, channels: int, condition_channels: int, hidden: int, norm: bool = False):
        super().__init__()
        self.split = channels // 2
        self.net = conv_net(self.split + condition_channels, 2 * (channels - self.split), hidden, norm)

    def _scale_shift(self, h1, condition):
        raw = self.net(h1 if condition is None else torch.cat([h1, condition], 1))
        s, t = raw.chunk(2, 1)
        return self.clamp * 0.636 * torch.atan(s), t

    def forward(self, h, condition=None):
        h1, h2 = h[:, :self.split], h[:, self.split:]
        s, t = self._scale_shift(h1, condition)
        return torch.cat([h1, h2 * torch.exp(s) + t], 1), s.flatten(1).sum(1)

    def inverse(self, h, condition=None):
        h1, h2 = h[:, :self.split], h[:, self.split:]
        s, t = self._scale_shift(h1, condition)
        return torch.cat([h1, (h2 - t) * torch.exp(-s)], 1)


class AffineInjector(nn.Module):
    """h' = (h + t) * exp(s) with (s, t) from the condition alone, s = tanh(s / f) * f, f = exp(a learnable
    per-channel log-factor starting at 0) (the authors' ConditionalAffineTransform)."""

    def __init__(self, channels: int, condition_channels: int, hidden: int, norm: bool = False):
        super().__init__()
        self.net = conv_net(condition_channels, 2 * channels, hidden, norm)
        self.log_factor = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def _scale_shift(self, condition):
        s, t = self.net(condition).chunk(2, 1)
        factor = torch.exp(self.log_factor)
        return torch.tanh(s / factor) * factor, t

    def forward(self, h, condition=None):
        s, t = self._scale_shift(condition)
        return (h + t) * torch.exp(s), s.flatten(1).sum(1)

    def inverse(self, h, condition=None):
        s, t = self._scale_shift(condition)
        return h * torch.exp(-s) - t


class FlowStage(nn.Module):
    """One scale's flow on (channels, H, W): ``transition`` x (ActNorm, 1x1 conv), then ``depth`` x (ActNorm,
    1x1 conv, [affine injector,] affine coupling); with ``condition_channels`` > 0 the injector and the
    coupling see the condition (the authors' g_I / g_S; without: FlowBlock, whose transition is 2); with
    ``injector=False`` only the couplings see it (a conditional INN's blocks); ``norm``: the conditioners'
    group normalisation (conv_net)."""

    def __init__(self, channels: int, depth: int, hidden: int, condition_channels: int = 0, transition: int = 2,
                 injector: bool = True, norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(transition):
            layers += [ActNorm(channels), InvertibleConv1x1(channels)]
        for _ in range(depth):
            layers += [ActNorm(channels), InvertibleConv1x1(channels)]
            if condition_channels and injector:
                layers.append(AffineInjector(channels, condition_channels, hidden, norm))
            layers.append(AffineCoupling(channels, condition_channels, hidden, norm))
        self.layers = nn.ModuleList(layers)

    def forward(self, h, condition=None):
        log_det = h.new_zeros(len(h))
        for layer in self.layers:
            h, layer_log_det = layer(h, condition)
            log_det = log_det + layer_log_det
        return h, log_det

    def inverse(self, h, condition=None):
        for layer in reversed(self.layers):
            h = layer.inverse(h, condition)
        return h


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over everything but the batch."""
    return -0.5 * (z.flatten(1) ** 2).sum(1) - 0.5 * z[0].numel() * math.log(2 * math.pi)
