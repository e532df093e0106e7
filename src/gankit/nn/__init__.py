"""Layers and blocks. :class:`LayerFactory` makes conv/linear layers with or without spectral
normalisation, and normalisation/activation layers by name, so architectures are written once
(DESIGN principle 3). :mod:`.conditioning` holds the ways of conditioning on a class label;
:mod:`.minibatch` and :mod:`.virtual_batchnorm` two of Salimans et al.'s (2016) techniques."""
from .factory import LayerFactory, init_dcgan, init_weights  # noqa: F401
from .conditioning import (AuxClassifierDiscriminator, ClassifierDiscriminator, ConditionalBatchNorm,  # noqa: F401
                           InputConditioned, LabelBound, LabelInput, LabelSequential, ProjectionDiscriminator)
from .spectral import largest_singular_value, spectral_norms  # noqa: F401,E402
from .minibatch import MinibatchDiscrimination  # noqa: F401,E402
from .virtual_batchnorm import VirtualBatchNorm, WithReferenceBatch  # noqa: F401,E402
from .weight_norm import WeightNormLinear, init_weight_norm_from_data  # noqa: F401,E402
from .noise import GaussianNoise, gaussian_noise  # noqa: F401,E402
from .progressive import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, fade_in  # noqa: F401,E402
from .pyramid import laplacian_pyramid, reconstruct  # noqa: F401,E402
from .style import AdaIN, NoiseInjection, mix_styles, truncate_w  # noqa: F401,E402
from .modes import eval_mode  # noqa: F401,E402
