"""Frechet distance between real and generated images in the feature net's feature space, computed by
torchmetrics' FrechetInceptionDistance with a custom feature module (runs offline)."""

from __future__ import annotations

import torch

from genlab.families.classifier import Classifier
from genlab.metrics.feature_net import FeatureExtractor


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, classifier: Classifier,
                     batch_size: int = 1000) -> float:
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 real and 2 generated samples, got {len(real)}, {len(fake)}")
    from torchmetrics.image.fid import FrechetInceptionDistance  # 1.5 s to import: only where FID is computed
    metric = FrechetInceptionDistance(feature=FeatureExtractor(classifier), normalize=False)
    for images, is_real in ((real, True), (fake, False)):
        for i in range(0, len(images), batch_size):
            metric.update(images[i:i + batch_size].float().cpu(), real=is_real)
    return float(metric.compute())
