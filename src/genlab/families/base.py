"""The family protocol: training, sampling, evaluation and tables are written once against it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Family(nn.Module):
    """A generative model family.

    - ``loss(batch) -> {"loss": scalar, ...}``: batch is ``{"x": Tensor, "y": Tensor | None}``; extra
      entries are logged.
    - ``sample(n, generator=None, **sampler_options) -> Tensor`` of shape (n, *example_shape).
    - ``log_likelihood(x, generator=None) -> Tensor | None``: nats per example, or None where the family
      has no normalised likelihood (tables then say n/a).
    - ``log_likelihood_bounds(x, generator=None) -> {name: Tensor}``: further bounds reported beside the
      likelihood on the same examples (the VAE's ELBO); default none.
    - ``initialize(x_train)``: optional data-dependent initialisation before the first step.
    - ``from_config(example_shape, options, meta)``: construction from the model block; override it to
      take something from the dataset's meta (the classifier's classes, the grey levels).
    ``capabilities`` names what else it offers (below); ``network_evaluations`` counts forward passes of the network during sampling (the NFE).
    """

    # What a family can do beyond training, declared so that evaluation and the config checks ask the class
    # instead of probing for methods: sample (unconditional samples), samplers (named diffusion samplers and
    # their options), score (the score of the perturbed data), reconstruct (an auto-encoder: reconstruct,
    # latent, latent_dim), condition (sampling given a condition: condition, observed), conditional_likelihood
    # (an exact log p(x | y): conditional_log_likelihood), temperature (sample takes a temperature), geodesic
    # and rae (pullback geometry), classify (a classifier: accuracy, features).
    capabilities: frozenset[str] = frozenset({"sample"})
    has_likelihood = True
    likelihood_kind = "exact"  # what log_likelihood computes, for the tables: exact, a bound, an estimate

    def __init__(self, example_shape: tuple[int, ...]):
        super().__init__()
        self.example_shape = tuple(example_shape)
        self.network_evaluations = 0

    @property
    def dim(self) -> int:
        return int(torch.Size(self.example_shape).numel())

    @property
    def device(self) -> torch.device:
        return next(iter(self.parameters()), next(iter(self.buffers()), torch.empty(0))).device

    @classmethod
    def from_config(cls, example_shape: tuple[int, ...], options: dict[str, Any], meta: dict[str, Any]):
        return cls(example_shape, **options)

    def initialize(self, x_train: torch.Tensor) -> None:
        """Data-dependent initialisation (default: none)."""

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The optimiser's parameter groups: one of all trainable parameters, unless a family gives some of them
        an ``lr_scale`` (a multiple of the scheduled learning rate)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor | None:
        return None

    def log_likelihood_bounds(self, x: torch.Tensor, generator: torch.Generator | None = None
                              ) -> dict[str, torch.Tensor]:
        return {}
