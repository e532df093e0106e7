"""Layers and blocks. :class:`LayerFactory` makes conv/linear layers with or without spectral
normalisation, and normalisation/activation layers by name, so architectures are written once
(DESIGN principle 3). :mod:`.conditioning` holds the ways of conditioning on a class label."""
from .factory import LayerFactory, init_dcgan  # noqa: F401
from .conditioning import (AuxClassifierDiscriminator, ClassifierDiscriminator, ConditionalBatchNorm,  # noqa: F401
                           InputConditioned, LabelBound, LabelInput, LabelSequential, ProjectionDiscriminator)
from .spectral import largest_singular_value, spectral_norms  # noqa: F401,E402
