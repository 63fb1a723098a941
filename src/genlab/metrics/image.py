"""Image-quality measures against a reference: PSNR and SSIM with the data's value range as the peak."""

from __future__ import annotations

import torch

from genlab.data import Dataset


def value_range(dataset: Dataset) -> tuple[float, float]:
    """The smallest and largest value in the training data ([-1, 1] for images)."""
    return float(dataset.x_train.min()), float(dataset.x_train.max())


def psnr(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example MSE and PSNR, the peak being the data's peak-to-peak range (2 for images in [-1, 1])."""
    low, high = value_range(dataset)
    mse = (estimate - truth).flatten(1).pow(2).mean(1).double()
    return mse, 10 * torch.log10((high - low) ** 2 / mse)


def ssim(estimate: torch.Tensor, truth: torch.Tensor, dataset: Dataset) -> torch.Tensor:
    """Per-example SSIM; the Gaussian window shrinks to 7 (3) pixels on images smaller than the usual 11."""
    from torchmetrics.functional.image import structural_similarity_index_measure
    side = min(truth.shape[-2:])
    kernel = 11 if side >= 11 else 7 if side >= 7 else 3
    low, high = value_range(dataset)
    return structural_similarity_index_measure(estimate.double(), truth.double(), kernel_size=kernel,
                                               data_range=high - low, reduction="none")
