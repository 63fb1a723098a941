"""Image-quality measures against a reference: PSNR and SSIM with the data's value range as the peak."""

from __future__ import annotations

import torch

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


def ssim(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset) -> torch.Tensor:
    """Per-example SSIM: torchmetrics' Gaussian window (sigma 1.5, 11 pixels) over reflect-padded images, on
    8x8 digits too (its ``kernel_size`` sizes only a uniform window, so it is not passed)."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    low, high = value_range(dataset)
    return structural_similarity_index_measure(estimate.double(), truth.double(), data_range=high - low,
                                               reduction="none")
