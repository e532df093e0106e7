"""Multi-scale GANs (the book's image-generation chapter): LAPGAN's Laplacian pyramid of per-level GANs and
ProGAN's progressive growing and StyleGAN's style-based generator; StackGAN and StackGAN++'s text-conditioned
stages."""
from . import lapgan, progan, stackgan, stylegan  # noqa: F401
