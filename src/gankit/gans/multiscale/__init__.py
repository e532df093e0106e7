"""Multi-scale GANs (the book's image-generation chapter): LAPGAN's Laplacian pyramid of per-level GANs and
ProGAN's progressive growing."""
from . import lapgan, progan  # noqa: F401
