"""Registry: config ``family`` names -> classes. Adding a family is one module plus a line here and its
schema entry in params/schema.yaml (see README, 'Adding a family')."""

from __future__ import annotations

from typing import Any

from genlab.errors import ConfigError
from genlab.families.autoregressive import Autoregressive
from genlab.families.base import Family
from genlab.families.caflow import CAFlow
from genlab.families.conditional import ConditionalDiffusion
from genlab.families.diffusion import DiffusionModel
from genlab.families.ebm import EnergyModel
from genlab.families.flow import Flow
from genlab.families.gan import GAN
from genlab.families.gaussian import GaussianBaseline
from genlab.families.multiscale import MultiScaleDiffusion
from genlab.families.pullback import PullbackFlow
from genlab.families.score_vae import ScoreVAE
from genlab.families.vae import VAE
from genlab.families.classifier import Classifier

MODELS: dict[str, type[Family]] = {
    "gan": GAN,
    "vae": VAE,
    "flow": Flow,
    "autoregressive": Autoregressive,
    "ebm": EnergyModel,
    "diffusion": DiffusionModel,
    "multiscale": MultiScaleDiffusion,  # non-uniform diffusion: Haar groups, each at its own speed (chapter 4)
    "conditional": ConditionalDiffusion,  # CDSM estimators: CDE, CDiffE, CMDE
    "caflow": CAFlow,  # conditional auto-regressive flows across scales (chapter 3)
    "score_vae": ScoreVAE,  # an encoder steering a pretrained, frozen diffusion model
    "pullback": PullbackFlow,  # anisotropic, isometry-regularised flow: pullback geometry, RAE
    "gaussian": GaussianBaseline,
    "classifier": Classifier,  # the FID feature net; trained by the same loop, not generative
}


def make_model(model_config: dict[str, Any], example_shape: tuple[int, ...], meta: dict[str, Any],
               name: str = "<block>") -> Family:
    """Instantiate a model block (``family`` + family options; ``training`` is the loop's). A block the schema
    accepts but the data's shape does not (a U-Net with more levels than the image halves into) is one
    ConfigError naming ``models.<name>``, not a traceback."""
    options = {key: value for key, value in model_config.items() if key not in ("family", "training")}
    try:
        return MODELS[model_config["family"]].from_config(example_shape, options, meta)
    except ValueError as error:
        raise ConfigError(f"models.{name}: cannot be built for data of shape {tuple(example_shape)}: "
                          f"{error}") from error


__all__ = ["MODELS", "Family", "make_model"]
