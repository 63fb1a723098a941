"""Frechet distance between real and generated images in the feature net's feature space.

Computed as torchmetrics' FrechetInceptionDistance (1.9) computes it, operation for operation (float64 sums
of features and of their outer products, the covariance from them, the trace of the matrix square root from
the eigenvalues of the covariances' product), so the numbers are the library's to the last bit
(tests/test_metrics_nn.py holds them equal). Written out because importing torchmetrics costs 1.1 s
(matplotlib, scipy.signal, every metric it has) in every evaluation process that computes an FID."""

from __future__ import annotations

import torch

from genlab.families.classifier import Classifier
from genlab.metrics.feature_net import FeatureExtractor


def _moments(batches) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """(mean, covariance, the features' dtype) of feature batches, accumulated batch by batch."""
    total = outer = 0.0
    n = 0
    for batch in batches:
        dtype, batch = batch.dtype, batch.double()
        total, outer, n = total + batch.sum(dim=0), outer + batch.t().mm(batch), n + len(batch)
    mean = (total / n).unsqueeze(0)
    return mean.squeeze(0), (outer - n * mean.t().mm(mean)) / (n - 1), dtype


def feature_moments(images: torch.Tensor, features: FeatureExtractor,
                    batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """(mean, covariance, the features' dtype) of the images' features, accumulated batch by batch."""
    return _moments(features(images[i:i + batch_size].float().cpu()) for i in range(0, len(images), batch_size))


def _distance(real_moments, fake_moments) -> float:
    (mu1, sigma1, _), (mu2, sigma2, dtype) = real_moments, fake_moments
    distance = ((mu1 - mu2).square().sum(dim=-1) + sigma1.trace() + sigma2.trace()
                - 2 * torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum(dim=-1))
    return float(distance.to(dtype))


def _check_sizes(real, fake) -> None:
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 real and 2 generated samples, got {len(real)}, {len(fake)}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, classifier: Classifier,
                     batch_size: int = 1000) -> float:
    """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of the two sets' features."""
    _check_sizes(real, fake)
    features = FeatureExtractor(classifier)
    return _distance(*(feature_moments(images, features, batch_size) for images in (real, fake)))


def frechet_distance_of_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The same distance between two sets of features already computed (e.g. the joint FID's concatenated
    features of condition and sample)."""
    _check_sizes(real, fake)
    return _distance(_moments([real]), _moments([fake]))
