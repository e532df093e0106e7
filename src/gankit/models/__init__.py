"""Whole networks. Resolution, channels and width are parameters (DESIGN principle 4)."""
from ..registry import Registry
from .dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: F401
from .mlp import MLPDiscriminator, MLPGenerator  # noqa: F401

MODELS: Registry = Registry("model")
MODELS.add("mlp-g", MLPGenerator)
MODELS.add("mlp-d", MLPDiscriminator)
MODELS.add("dcgan-g", DCGANGenerator)
MODELS.add("dcgan-d", DCGANDiscriminator)

from .autoencoder import ConvAutoEncoder, ConvDecoder, ConvEncoder, Energy, MLPAutoEncoder, MLPDecoder  # noqa: E402,F401
from .sngan import SNGANDiscriminator, SNGANGenerator  # noqa: E402,F401

MODELS.add("sngan-g", SNGANGenerator)
MODELS.add("sngan-d", SNGANDiscriminator)
MODELS.add("conv-ae", ConvAutoEncoder)
MODELS.add("conv-decoder", ConvDecoder)
MODELS.add("mlp-ae", MLPAutoEncoder)
MODELS.add("mlp-decoder", MLPDecoder)

from .encoder import (JointDiscriminator, LatentEncoder, image_encoder, joint_discriminator,  # noqa: E402,F401
                      mlp_encoder, reparametrise)

MODELS.add("latent-encoder", LatentEncoder)
MODELS.add("joint-d", JointDiscriminator)
