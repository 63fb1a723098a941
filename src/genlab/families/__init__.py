"""Registry: config ``family`` names -> classes. Adding a family is one module plus a line here and its
schema entry in params/schema.yaml (see README, 'Adding a family')."""

from __future__ import annotations

from typing import Any

from genlab.families.base import Family
from genlab.families.diffusion import DiffusionModel
from genlab.families.gaussian import GaussianBaseline
from genlab.metrics.feature_net import Classifier

MODELS: dict[str, type[Family]] = {
    "diffusion": DiffusionModel,
    "gaussian": GaussianBaseline,
    "classifier": Classifier,  # the FID feature net; trained by the same loop, not generative
}


def make_model(model_config: dict[str, Any], example_shape: tuple[int, ...], meta: dict[str, Any]) -> Family:
    """Instantiate a model block (``family`` + family options; ``training`` is the loop's)."""
    options = {key: value for key, value in model_config.items() if key not in ("family", "training")}
    family = model_config["family"]
    if family == "classifier":
        options["classes"] = meta["classes"]
    return MODELS[family](example_shape, **options)


__all__ = ["MODELS", "Family", "make_model"]
