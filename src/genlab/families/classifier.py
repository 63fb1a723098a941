"""The classifier family: a small CNN (images) or MLP (vectors) trained by the same loop on the dataset's
labels. The pipeline uses it as the FID feature net (Inception weights cannot be downloaded here, and
Inception features of 8x8 digits mean little): its penultimate activations are the features
(metrics/feature_net.py), its test accuracy is reported beside every FID."""

from __future__ import annotations

import torch
from torch import nn

from genlab.families import CAPABILITIES
from genlab.families.base import Family


class Classifier(Family):
    """A CNN for images (C, H, W) or an MLP for vectors; not generative (trained by the same loop)."""

    capabilities = CAPABILITIES["classifier"]

    has_likelihood = False

    def __init__(self, example_shape, classes: int, width: int = 32, features: int = 64, dropout: float = 0.1):
        super().__init__(example_shape)
        if len(self.example_shape) == 3:
            c = self.example_shape[0]
            layers = [nn.Conv2d(c, width, 3, padding=1), nn.SiLU()]
            for i in range(self.downsamplings(self.example_shape[1:])):
                layers += [nn.Conv2d(width if i == 0 else 2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
            self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, features),
                                      nn.SiLU())
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(self.dim, 4 * width), nn.SiLU(),
                                      nn.Linear(4 * width, features), nn.SiLU())
        self.num_features = features
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, classes))

    @staticmethod
    def downsamplings(size: tuple[int, ...], side: int = 2) -> int:
        """Stride-2 convolutions until the map is at most side x side (at least one): the features then see
        the whole image before the global pooling. 8x8 digits: two; 28x28: four (with two, a feature saw
        15x15 pixels of a 28x28 digit and the net learned from pooled strokes: 95.8% test accuracy after
        1500 steps, against 97.1% after 500 with four; benchmarks/results/feature_net.md)."""
        count, largest = 0, max(size)
        while largest > side or count == 0:
            largest, count = (largest + 1) // 2, count + 1
        return count

    @classmethod
    def from_config(cls, example_shape, options, meta):
        return cls(example_shape, classes=meta["classes"], **options)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def loss(self, batch):
        logits = self(batch["x"])
        loss = nn.functional.cross_entropy(logits, batch["y"])
        return {"loss": loss, "accuracy": (logits.argmax(1) == batch["y"]).float().mean()}

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
        return int((self.predict(x, batch_size) == y).sum()) / len(x)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The class logits of each example, in batches."""
        return torch.cat([self(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The predicted class of each example, in batches."""
        return self.logits(x, batch_size).argmax(1)
