"""Multi-scale GANs (the book's image-generation chapter): LAPGAN's Laplacian pyramid of per-level GANs and
ProGAN's progressive growing and StyleGAN's style-based generator."""
from . import lapgan, progan, stylegan  # noqa: F401
