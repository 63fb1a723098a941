"""Image-quality measures against a reference: PSNR and SSIM with the data's value range as the peak, and the
high-frequency energy that tells a blurred image from a sharp one."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genlab.data import Dataset


def value_range(dataset: Dataset) -> tuple[float, float]:
    """The smallest and largest value in the training data ([-1, 1] for images)."""
    return float(dataset.x_train.min()), float(dataset.x_train.max())


def region_mse(estimate: torch.Tensor, truth: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example mean squared error (float64), over ``region`` (a (B, 1, H, W) bool mask) or every value."""
    if region is None:
        return (estimate - truth).flatten(1).pow(2).mean(1).double()
    squared = (estimate.double() - truth.double()).pow(2)
    weight = region.expand_as(squared).double()
    return (squared * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)


def psnr_of(mse: torch.Tensor, peak: float) -> torch.Tensor:
    return 10 * torch.log10(peak**2 / mse)


def psnr(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset,
         region: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example MSE and PSNR (over ``region`` if given), the peak being the data's peak-to-peak range (2 for
    images in [-1, 1])."""
    low, high = value_range(dataset)
    mse = region_mse(estimate, truth, region)
    return mse, psnr_of(mse, high - low)


def ssim(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Per-example SSIM as torchmetrics (1.9) computes it, operation for operation, in float64: a Gaussian window
    (sigma 1.5, 11 pixels) over reflect-padded images, the SSIM map averaged over every pixel, the data's
    peak-to-peak range as the dynamic range; on 8x8 digits too. Written out because importing torchmetrics
    costs 1.1 s per evaluation process (tests/test_metrics_nn.py holds the two equal)."""
    low, high = value_range(dataset)
    c1, c2 = pow(k1 * (high - low), 2), pow(k2 * (high - low), 2)
    size = int(3.5 * sigma + 0.5) * 2 + 1
    pad = (size - 1) // 2
    x = F.pad(estimate.double(), (pad, pad, pad, pad), mode="reflect")
    y = F.pad(truth.double(), (pad, pad, pad, pad), mode="reflect")
    distance = torch.arange(start=(1 - size) / 2, end=(1 + size) / 2, step=1, dtype=x.dtype, device=x.device)
    gauss = torch.exp(-torch.pow(distance / sigma, 2) / 2)
    gauss = (gauss / gauss.sum()).unsqueeze(dim=0)
    channels = x.size(1)
    kernel = torch.matmul(gauss.t(), gauss).expand(channels, 1, size, size)
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = F.conv2d(torch.cat((x, y, x * x, y * y, x * y)), kernel,
                                                         groups=channels).split(x.shape[0])
    mean_x_sq, mean_y_sq, mean_x_y = mean_x.pow(2), mean_y.pow(2), mean_x * mean_y
    var_x = torch.clamp(mean_xx - mean_x_sq, min=0.0)
    var_y = torch.clamp(mean_yy - mean_y_sq, min=0.0)
    covariance = mean_xy - mean_x_y
    upper = 2 * covariance + c2
    lower = (var_x + var_y) + c2
    ssim_map = ((2 * mean_x_y + c1) * upper) / ((mean_x_sq + mean_y_sq + c1) * lower)
    return ssim_map.reshape(ssim_map.shape[0], -1).mean(-1)


def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Per-example spectral energy at radial spatial frequencies of at least ``cutoff`` cycles per pixel (0.5 is
    Nyquist; 0.25 keeps the upper half of the band, where strokes' edges live), from the 2-D DFT over the last
    two axes, summed over channels, in float64. By Parseval it is the energy of the image's high-pass part;
    blurring (a low-pass filter) lowers it, which MSE and PSNR do not show apart from other errors."""
    spectrum = torch.fft.fft2(images.double(), norm="ortho").abs().pow(2)
    fy = torch.fft.fftfreq(images.shape[-2], dtype=torch.float64, device=images.device)
    fx = torch.fft.fftfreq(images.shape[-1], dtype=torch.float64, device=images.device)
    band = (fy[:, None].pow(2) + fx[None, :].pow(2)).sqrt() >= cutoff
    return (spectrum * band).flatten(1).sum(1)


def high_frequency_ratio(estimate: torch.Tensor, truth: torch.Tensor, cutoff: float = 0.25) -> float:
    """Sharpness of a set of images against the images they stand for: their total high-frequency energy over
    the originals' (1: as much fine detail as the originals; a blurred reconstruction, less)."""
    return float(high_frequency_energy(estimate, cutoff).sum() / high_frequency_energy(truth, cutoff).sum())
