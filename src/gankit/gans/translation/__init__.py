"""Image-to-image translation (the book's style-transfer part): pix2pix on paired images; CycleGAN, DiscoGAN and
DualGAN, UNIT and XGAN on unpaired ones; ComboGAN between any pair of several domains; StarGAN and Fader networks between the domains of an attribute set; SRGAN (and its SRResNet baseline) for
x4 super-resolution; CoGAN, which learns the joint distribution of two domains from unpaired images."""
from . import cogan, combogan, cyclegan, fader, pix2pix, srgan, stargan, unit, xgan  # noqa: F401  (register the translators, CoGAN)
