"""Conditional score models trained by conditional denoising score matching (CDSM, seed eq. 1.2): the
three estimators of the conditional score grad_x log p(x_t | y) that the thesis compares.

- ``cde``: s(x_t, y, t), only x diffused and y clean. Its CDSM minimiser is the conditional score: the
  estimator whose consistency the thesis proves.
- ``cdiffe``: x and y diffused together by the same SDE, and the x-part of the joint score at (x_t, y_t)
  is used, with y_t drawn from the forward process started at the observed y. Its minimiser is
  grad_x log p(x_t | y_t), not grad_x log p(x_t | y): biased wherever y_t is noisy (large t).
- ``cmde``: as cdiffe, but y is diffused by its own, slower VE SDE (``condition_sde``, small sigma_max),
  which shrinks that bias.

Why only the x-block of the joint DSM loss is trained for cdiffe/cmde: the x-block of the joint
minimiser is the regression E[z_x | x_t, y_t], independent of the y-block, which would train an output
no estimator uses. The minimiser that matters is unchanged and the network stays the CDE one.

What the model is conditioned on (``condition.kind``), computed from a batch {x, y}:
- ``label``: the one-hot class y;
- ``given``: the dataset's condition vectors y (synthetic conditional data, e.g. conditional_mixture);
- ``inpaint``: the top half of the image (the bottom half is generated);
- ``superres``: the image average-pooled by ``factor`` (2: 8x8 digits from 4x4)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from genlab.diffusion.losses import dsm_loss
from genlab.diffusion.sde import make_sde
from genlab.errors import ConfigError
from genlab.families.diffusion import DiffusionModel

ESTIMATORS = ("cde", "cdiffe", "cmde")
CONDITIONS = ("label", "given", "inpaint", "superres")


class ConditionalDiffusion(DiffusionModel):
    capabilities = frozenset({"condition"})
    has_likelihood = False

    def __init__(self, example_shape, estimator: str, condition: dict, sde: dict, network: dict, loss: dict,
                 sampler: dict, condition_dim: int, condition_sde: dict | None = None):
        if estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if estimator == "cmde" and condition_sde is None:
            raise ConfigError("estimator cmde needs condition_sde, e.g. {kind: ve, sigma_min: 0.01, sigma_max: 0.5}")
        if estimator != "cmde" and condition_sde is not None:
            raise ConfigError(f"condition_sde is read by estimator cmde only; remove it from this {estimator} block")
        super().__init__(example_shape, sde, network, loss, sampler, likelihood={"method": "none"},
                         cond_dim=condition_dim)
        self.estimator, self.condition_options, self.condition_dim = estimator, dict(condition), condition_dim
        self.condition_sde = make_sde(condition_sde) if estimator == "cmde" else self.sde

    @classmethod
    def from_config(cls, example_shape, options: dict[str, Any], meta: dict[str, Any]):
        condition = options["condition"]
        kind, dim = condition["kind"], math.prod(example_shape)
        if kind == "label":
            if "classes" not in meta:
                raise ConfigError(f"condition kind 'label' needs a labelled dataset; {meta.get('name')} has none")
            condition_dim = meta["classes"]
        elif kind == "given":
            if "condition_dim" not in meta:
                raise ConfigError(f"condition kind 'given' needs a dataset with condition vectors (kind "
                                  f"conditional_mixture); {meta.get('name')} has none")
            condition_dim = meta["condition_dim"]
        elif kind == "inpaint":
            condition_dim = dim // 2
        elif kind == "superres":
            condition_dim = dim // condition.get("factor", 2) ** 2
        else:
            raise ConfigError(f"condition kind must be one of {CONDITIONS}, got {kind!r}")
        return cls(example_shape, condition_dim=condition_dim, **options)

    @property
    def likelihood_kind(self) -> str:
        return "n/a (conditional score model)"

    def log_likelihood(self, x, generator=None):
        return None

    def condition(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The condition y (B, condition_dim) of examples x with their dataset labels/condition vectors."""
        kind = self.condition_options["kind"]
        if kind == "label":
            return F.one_hot(labels.long(), self.condition_dim).to(x.dtype)
        if kind == "given":
            return labels.to(x.dtype).flatten(1)
        if kind == "inpaint":
            return x[..., : x.shape[-2] // 2, :].flatten(1)
        return F.avg_pool2d(x, self.condition_options.get("factor", 2)).flatten(1)

    def observed(self, x: torch.Tensor) -> torch.Tensor:
        """What the condition shows of x, drawn as an image (the missing half / the low resolution grey),
        for figures; for label/given conditions, x itself."""
        kind = self.condition_options["kind"]
        if kind == "inpaint":
            shown = x.clone()
            shown[..., x.shape[-2] // 2:, :] = -1.0
            return shown
        if kind == "superres":
            factor = self.condition_options.get("factor", 2)
            return F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="nearest")
        return x

    def diffuse_condition(self, y: torch.Tensor, t: torch.Tensor, generator=None) -> torch.Tensor:
        """y for cde; y_t from the condition's forward process for cdiffe/cmde."""
        if self.estimator == "cde":
            return y
        noise = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return self.condition_sde.perturb(y, t, noise)

    def conditional_score(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, generator=None):
        """The estimator's conditional score at (x_t, y, t), as used for sampling."""
        return self.score(x_t, t, self.diffuse_condition(y, t, generator))

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        y = self.condition(batch["x"], batch["y"])
        loss = dsm_loss(lambda x_t, t, y: self.eps(x_t, t, self.diffuse_condition(y, t)), self.sde, batch["x"],
                        self.time_sampler, y)
        return {"loss": loss.mean()}

    def sample(self, n, generator=None, condition: torch.Tensor | None = None, **options):
        """Samples of x given ``condition`` (n, condition_dim), one per row; sampler options as for the
        unconditional family."""
        if condition is None:
            raise ConfigError("a conditional model samples given a condition: use the metric 'conditional'")
        condition = condition.to(self.device)
        return self._run_sampler(lambda x, t: self.conditional_score(x, t, condition, generator), n, generator,
                                 options)

