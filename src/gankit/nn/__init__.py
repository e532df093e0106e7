"""Layers and blocks. :class:`LayerFactory` makes conv/linear layers with or without spectral
normalisation, and normalisation/activation layers by name, so architectures are written once
(DESIGN principle 3)."""
from .factory import LayerFactory, init_dcgan  # noqa: F401
