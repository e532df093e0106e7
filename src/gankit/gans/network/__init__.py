"""The network family (the book's second part): GANs that improve on DCGAN through their networks and
training techniques (Improved GAN; SAGAN, BigGAN and S3GAN to come)."""
from . import improved  # noqa: F401
