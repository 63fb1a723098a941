"""Network building blocks shared by the families."""

from genlab.nn.mlp import MLP, ConditionalMLP
from genlab.nn.unet import UNet

NETWORKS = {"mlp": ConditionalMLP, "unet": UNet}


def make_network(config: dict, example_shape: tuple[int, ...], cond_dim: int = 0, cond_channels: int = 0):
    """A conditional network (x, embedding input) -> tensor shaped like x, from its config block: conditioned on
    a vector of ``cond_dim`` or (U-Net only) on an image of ``cond_channels`` concatenated to its input."""
    options = {key: value for key, value in config.items() if key != "kind"}
    if cond_channels:
        if config["kind"] != "unet":
            raise ValueError(f"only a unet takes a condition image, not {config['kind']!r}")
        options["cond_channels"] = cond_channels
    return NETWORKS[config["kind"]](example_shape=example_shape, cond_dim=cond_dim, **options)


__all__ = ["MLP", "NETWORKS", "ConditionalMLP", "UNet", "make_network"]
