"""Image-to-image translation (the book's style-transfer part): pix2pix on paired images; CycleGAN, DiscoGAN and
DualGAN on unpaired ones; SRGAN (and its SRResNet baseline) for x4 super-resolution."""
from . import cyclegan, pix2pix, srgan  # noqa: F401  (register the translators)
