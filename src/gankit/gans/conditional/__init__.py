"""Class-conditional GANs (the book's conditional part): CGAN with the matching-aware D, AC-GAN and
the projection discriminator. One module each; they share :mod:`.base` and compose the conditioning
parts of :mod:`gankit.nn.conditioning`."""
from . import acgan, cgan, projection  # noqa: F401  (register the GANs)
