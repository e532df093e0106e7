"""Representation-learning GANs (the book's feature-extraction part): InfoGAN, BiGAN / ALI, VAE/GAN. One module each;
they compose the parts of :mod:`gankit.nn` and :mod:`gankit.models` (the conditional GANs' network builder,
the encoders and the joint discriminator)."""
from . import bigan, infogan, vaegan  # noqa: F401  (register the GANs)
