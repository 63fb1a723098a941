"""Registry: config ``family`` names -> classes. Adding a family is one module plus a line here and its
schema entry in params/schema.yaml (see README, 'Adding a family').

The registry is torch-free: each line names the class's module and the family's capabilities (what it can
do beyond training; genlab.families.base lists them). The params checks, the Snakefile and the figure and
table commands need only the capabilities, so they do not import torch (3 s of every such process); each
class takes its own from here, so they are declared once. The classes are imported when first asked for
(``MODELS``, ``Family``, ``make_model``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genlab.errors import ConfigError

if TYPE_CHECKING:
    from genlab.families.base import Family

FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "gan": ("genlab.families.gan:GAN", frozenset({"sample"})),
    "vae": ("genlab.families.vae:VAE", frozenset({"sample", "reconstruct"})),
    "flow": ("genlab.families.flow:Flow", frozenset({"sample"})),
    "autoregressive": ("genlab.families.autoregressive:Autoregressive", frozenset({"sample"})),
    "ebm": ("genlab.families.ebm:EnergyModel", frozenset({"sample"})),
    "diffusion": ("genlab.families.diffusion:DiffusionModel", frozenset({"sample", "samplers", "score"})),
    # non-uniform diffusion: Haar groups, each at its own speed (chapter 4)
    "multiscale": ("genlab.families.multiscale:MultiScaleDiffusion", frozenset({"sample"})),
    # CDSM estimators: CDE, CDiffE, CMDE
    "conditional": ("genlab.families.conditional:ConditionalDiffusion", frozenset({"condition"})),
    # conditional auto-regressive flows across scales (chapter 3)
    "caflow": ("genlab.families.caflow:CAFlow", frozenset({"condition", "conditional_likelihood", "temperature"})),
    # an encoder steering a pretrained, frozen diffusion model
    "score_vae": ("genlab.families.score_vae:ScoreVAE", frozenset({"sample", "reconstruct"})),
    # ScoreVAE's baseline: an encoder and a conditional diffusion decoder trained together
    "diff_decoder": ("genlab.families.diff_decoder:DiffDecoder", frozenset({"sample", "reconstruct"})),
    # anisotropic, isometry-regularised flow: pullback geometry, RAE
    "pullback": ("genlab.families.pullback:PullbackFlow", frozenset({"sample", "geodesic", "rae"})),
    "gaussian": ("genlab.families.gaussian:GaussianBaseline", frozenset({"sample"})),
    # the FID feature net; trained by the same loop, not generative
    "classifier": ("genlab.families.classifier:Classifier", frozenset({"classify"})),
}
CAPABILITIES: dict[str, frozenset[str]] = {name: capabilities for name, (_, capabilities) in FAMILIES.items()}


def family_class(name: str) -> type[Family]:
    """The class of family ``name`` (imports it, and torch)."""
    module, _, cls = FAMILIES[name][0].partition(":")
    return getattr(importlib.import_module(module), cls)


def make_model(model_config: dict[str, Any], example_shape: tuple[int, ...], meta: dict[str, Any],
               name: str = "<block>") -> Family:
    """Instantiate a model block (``family`` + family options; ``training`` is the loop's). A block the schema
    accepts but the data's shape does not (a U-Net with more levels than the image halves into) is one
    ConfigError naming ``models.<name>``, not a traceback."""
    options = {key: value for key, value in model_config.items() if key not in ("family", "training")}
    try:
        return family_class(model_config["family"]).from_config(example_shape, options, meta)
    except ValueError as error:
        raise ConfigError(f"models.{name}: cannot be built for data of shape {tuple(example_shape)}: "
                          f"{error}") from error


def __getattr__(name: str) -> Any:
    """``MODELS`` (family name -> class) and ``Family``, imported (with torch) when first asked for."""
    if name == "MODELS":
        return {family: family_class(family) for family in FAMILIES}
    if name == "Family":
        from genlab.families.base import Family
        return Family
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CAPABILITIES", "FAMILIES", "MODELS", "Family", "family_class", "make_model"]
