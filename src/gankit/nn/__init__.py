"""Layers and blocks. :class:`LayerFactory` makes conv/linear layers with or without spectral
normalisation, and normalisation/activation layers by name, so architectures are written once
(DESIGN principle 3)."""
from .factory import LayerFactory, init_dcgan  # noqa: F401
from .spectral import largest_singular_value, spectral_norms  # noqa: F401,E402
