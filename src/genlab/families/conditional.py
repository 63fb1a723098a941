"""Conditional score models trained by conditional denoising score matching (CDSM, seed eq. 1.2): the
estimators of the conditional score grad_x log p(x_t | y) that the thesis compares.

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

And:
- ``vs_cmde``: cmde whose condition SDE's sigma_max is lowered during training (the authors' VS-CMDE,
  GBATZOLIS/conditional_score_diffusion, lightning_callbacks ``decreasing_variance_configuration``): from
  ``condition_sde.sigma_max`` at step 0 along the hyperbola x_k y_k y_0 / (x (y_0 - y_k) + x_k y_k), which
  reaches ``condition_schedule.target`` at ``reach_target_steps`` and keeps falling; the value of the last
  training step is kept in a buffer (saved, copied into the EMA model) and used for sampling. Their callback
  lowers sigma_min,y on its own hyperbola too, but from 5e-3 to a target of 5e-3: it stays, as here.

What the model is conditioned on (``condition.kind``) is a task of genlab.data.tasks: the class label, given
vectors, or an image degradation (random-square inpainting, super-resolution, Canny edges). An image condition
goes into a U-Net as extra input channels and into an MLP flattened."""

from __future__ import annotations

import math
from typing import Any

import torch

from genlab.data.tasks import make_task
from genlab.diffusion.losses import dsm_loss
from genlab.diffusion.sde import VESDE, make_sde
from genlab.errors import ConfigError
from genlab.families import CAPABILITIES
from genlab.families.diffusion import DiffusionModel

ESTIMATORS = ("cde", "cdiffe", "cmde", "vs_cmde")


def decreasing_sigma_max(step: int, start: float, target: float, reach_target_steps: int,
                         floor: float = 0.0) -> float:
    """The authors' ``get_reduction_fn``: start at step 0, target at reach_target_steps, hyperbolic decay; never
    below ``floor`` (the SDE's sigma_min, where the condition is no longer diffused: CDE's limit)."""
    value = reach_target_steps * target * start / (step * (start - target) + reach_target_steps * target)
    return max(value, floor)


class ConditionalDiffusion(DiffusionModel):
    capabilities = CAPABILITIES["conditional"]
    has_likelihood = False

    def __init__(self, example_shape, estimator: str, condition: dict, sde: dict, network: dict, loss: dict,
                 sampler: dict, meta: dict[str, Any], condition_sde: dict | None = None,
                 condition_schedule: dict | None = None):
        if estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        slower = estimator in ("cmde", "vs_cmde")
        if slower and condition_sde is None:
            raise ConfigError(f"estimator {estimator} needs condition_sde, e.g. {{kind: ve, sigma_min: 0.01, "
                              f"sigma_max: 0.5}}")
        if not slower and condition_sde is not None:
            raise ConfigError(f"condition_sde is read by estimators cmde and vs_cmde only; remove it from this "
                              f"{estimator} block")
        if (estimator == "vs_cmde") != (condition_schedule is not None):
            raise ConfigError("condition_schedule belongs to estimator vs_cmde, and vs_cmde needs one: "
                              "{target: 0.5, reach_target_steps: N}")
        if estimator == "vs_cmde" and condition_sde["kind"] != "ve":
            raise ConfigError(f"estimator vs_cmde lowers a VE condition SDE's sigma_max; condition_sde.kind is "
                              f"{condition_sde['kind']!r}, make it ve")
        if estimator == "vs_cmde" and not (condition_sde.get("sigma_min", 0.01) < condition_schedule["target"]
                                           < condition_sde["sigma_max"]):
            raise ConfigError(f"condition_schedule.target {condition_schedule['target']} must lie between "
                              f"condition_sde.sigma_min and sigma_max (the schedule falls from sigma_max)")
        task = make_task(condition, example_shape, meta)
        image = task.is_image and network["kind"] == "unet"
        super().__init__(example_shape, sde, network, loss, sampler, likelihood={"method": "none"},
                         cond_dim=0 if image else math.prod(task.shape),
                         cond_channels=task.shape[0] if image else 0)
        self.estimator, self.task, self.image_condition = estimator, task, image
        self.condition_sde = make_sde(condition_sde) if slower else self.sde
        self.condition_schedule = dict(condition_schedule or {})
        if estimator == "vs_cmde":
            self.register_buffer("condition_sigma_max", torch.tensor(float(condition_sde["sigma_max"]),
                                                                     dtype=torch.float64))

    @classmethod
    def from_config(cls, example_shape, options: dict[str, Any], meta: dict[str, Any]):
        return cls(example_shape, meta=meta, **options)

    @property
    def likelihood_kind(self) -> str:
        return "n/a (conditional score model)"

    def log_likelihood(self, x, generator=None):
        return None

    def condition(self, x: torch.Tensor, labels: torch.Tensor | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """The condition y of examples x with their dataset labels/condition vectors (a random inpainting
        square is drawn from ``generator``)."""
        return self.task.condition(x, labels, generator)

    def current_condition_sde(self):
        """The condition's SDE now: for vs_cmde a VE SDE at the sigma_max of the last training step."""
        if self.estimator != "vs_cmde":
            return self.condition_sde
        return VESDE(self.condition_sde.sigma_min, float(self.condition_sigma_max))  # a host sync, once a step

    def diffuse_condition(self, y: torch.Tensor, t: torch.Tensor, generator=None) -> torch.Tensor:
        """y for cde; y_t from the condition's forward process for the others (only the values: inpainting's
        mask channel stays as it is)."""
        if self.estimator == "cde":
            return y
        values = y[:, : self.task.value_channels]  # a vector condition is values only
        noise = torch.randn(values.shape, generator=generator, dtype=y.dtype, device=y.device)
        return torch.cat([self.current_condition_sde().perturb(values, t, noise), y[:, values.shape[1]:]], dim=1)

    def _network_condition(self, y_t: torch.Tensor) -> torch.Tensor:
        """y_t as the network takes it: an image for a U-Net's input channels, else flattened."""
        return y_t if self.image_condition else y_t.flatten(1)

    def conditional_score(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor, generator=None):
        """The estimator's conditional score at (x_t, y, t), as used for sampling."""
        return self.score(x_t, t, self._network_condition(self.diffuse_condition(y, t, generator)))

    def loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if self.estimator == "vs_cmde" and self.training:
            self.condition_sigma_max.fill_(decreasing_sigma_max(
                int(batch["step"]), self.condition_sde.sigma_max, self.condition_schedule["target"],
                self.condition_schedule["reach_target_steps"], floor=self.condition_sde.sigma_min))
        y = self.condition(batch["x"], batch["y"])
        loss = dsm_loss(lambda x_t, t, y: self.eps(x_t, t, self._network_condition(self.diffuse_condition(y, t))),
                        self.sde, batch["x"], self.time_sampler, y)
        return {"loss": loss.mean()}

    def sample(self, n, generator=None, condition: torch.Tensor | None = None, **options):
        """Samples of x given ``condition`` (n, *condition shape), one per row; sampler options as for the
        unconditional family."""
        self.task.check_condition(condition, n)
        condition = condition.to(self.device)
        return self._run_sampler(lambda x, t: self.conditional_score(x, t, condition, generator), n, generator,
                                 options)
