"""Unpaired sets of more than two domains, for translators that learn every pair at once (ComboGAN): ``mnist-colours``.

``mnist-colours`` re-groups ``mnist-attributes`` (:mod:`gankit.data.attributes`) by the colour of the strokes:
three domains, *red*, *green* and *blue* digits, each made of the images drawn in that colour (disjoint images,
so no digit appears in two domains: an unpaired setting). Thickness and the 45-degree rotation stay random
within each domain, so a translator between colours must keep them, and the digit, while changing the colour.

The layout generalises the two-domain translation sets (:mod:`gankit.data.domains`): one tensor whose channels
are the domains' images one after the other, ``(N, 3 + 3 + 3, H, W)``, with labels ``(N, 3, 1 + 5)`` (each
domain's image's class and attribute vector), ``DataInfo.domains = (("red", 3), ("green", 3), ("blue", 3))``.
Row i holds the i-th image of each domain; the loader shuffles each domain on its own
(:class:`gankit.data.domains.UnpairedLoader`), so rows carry no correspondence. ``data.size`` keeps the first
``size`` images of each domain.
"""
from __future__ import annotations

import torch

from ..errors import DataError
from .attributes import ATTRIBUTES, GROUPS
from .base import DATASETS, DataInfo, Loaded

COLOURS = ("red", "green", "blue")
#: the registered sets of more than two domains
MULTI_DOMAIN_SETS = ("mnist-colours",)


@DATASETS.register("mnist-colours")
def mnist_colours(*, resolution: int = 28, channels=None, split: str = "train", size=None, seed: int = 0,
                  **kwargs) -> Loaded:
    """mnist-attributes grouped by colour: red, green and blue digits as three unpaired domains."""
    from .attributes import mnist_attributes

    if channels not in (None, 3):
        raise DataError(f"mnist-colours is RGB (its domains are colours), got data.channels={channels!r}")
    x, y, _ = mnist_attributes(resolution=resolution, split=split, size=None, seed=seed, **kwargs)
    colour = y[:, 1:4].argmax(1)
    groups = [(colour == k).nonzero().flatten() for k in range(len(COLOURS))]
    n = min(len(g) for g in groups)
    if size is not None:
        n = min(n, int(size))
    xs = torch.cat([x[g[:n]] for g in groups], 1).contiguous()
    ys = torch.stack([y[g[:n]] for g in groups], 1)
    info = DataInfo(name="mnist-colours", kind="images", shape=tuple(xs.shape[1:]), num_classes=10,
                    domains=tuple((c, 3) for c in COLOURS), paired=False, attributes=ATTRIBUTES,
                    attribute_groups=GROUPS)
    return xs, ys, info
