"""Whole networks. Resolution, channels and width are parameters (DESIGN principle 4)."""
from ..registry import Registry
from .dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: F401
from .mlp import MLPDiscriminator, MLPGenerator  # noqa: F401

MODELS: Registry = Registry("model")
MODELS.add("mlp-g", MLPGenerator)
MODELS.add("mlp-d", MLPDiscriminator)
MODELS.add("dcgan-g", DCGANGenerator)
MODELS.add("dcgan-d", DCGANDiscriminator)
