"""Image-to-image translation (the book's style-transfer part): pix2pix on paired images; CycleGAN, DiscoGAN and
DualGAN on unpaired ones."""
from . import cyclegan, pix2pix  # noqa: F401
