"""Representation-learning GANs (the book's feature-extraction part): InfoGAN so far. One module each;
they compose the parts of :mod:`gankit.nn` and the conditional GANs' network builder."""
from . import infogan  # noqa: F401  (register the GAN)
