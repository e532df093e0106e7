"""The network family (the book's second part): GANs that improve on DCGAN through their networks and
training techniques: Improved GAN, the ResNet GANs (SNGAN-ResNet, SAGAN, SS-GAN) and BigGAN."""
from . import improved, resnet, biggan, fewlabels  # noqa: F401
