"""Named GANs, one module each (DESIGN principle 2): each builds its nets, composes an objective
with penalties, and owns its training steps."""
from ..registry import Registry

GANS: Registry = Registry("GAN")

from . import vanilla  # noqa: E402,F401
from .base import GAN, Phase  # noqa: E402,F401
from . import energy, sngan  # noqa: E402,F401
from . import conditional  # noqa: E402,F401
from . import representation  # noqa: E402,F401
from . import network  # noqa: E402,F401
from . import multiscale  # noqa: E402,F401
from . import translation  # noqa: E402,F401
