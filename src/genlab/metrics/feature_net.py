"""The FID feature network: the penultimate activations of the dataset's classifier experiment
(families/classifier.py)."""

from __future__ import annotations

import torch
from torch import nn

from genlab.families.classifier import Classifier


class FeatureExtractor(nn.Module):
    """Images as passed -> (N, num_features) features (the form torchmetrics' FID takes, too)."""

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.num_features

    @torch.no_grad()
    def forward(self, x):
        return self.classifier.features(x.to(next(self.classifier.parameters()).device).float())
