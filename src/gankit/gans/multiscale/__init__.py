"""Multi-scale GANs (the book's image-generation chapter): LAPGAN's Laplacian pyramid of per-level GANs."""
from . import lapgan  # noqa: F401
