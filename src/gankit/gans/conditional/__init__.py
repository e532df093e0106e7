"""Class-conditional and label-using GANs (the book's conditional part): CGAN with the matching-aware D,
AC-GAN, the projection discriminator, the semi-supervised GAN (a (K+1)-class D trained on few labels) and
Triple-GAN (a classifier, a conditional generator and a discriminator of (x, y) pairs, on few labels).
One module each; the class-conditional ones share :mod:`.base` and compose the conditioning parts of
:mod:`gankit.nn.conditioning`."""
from . import acgan, cgan, projection, semisupervised, triplegan  # noqa: F401  (register the GANs)
