"""A multi-domain set with attribute labels, derived offline from MNIST: ``mnist-attributes``.

Each digit is drawn with seeded random attributes (StarGAN's multi-domain setting, Choi et al. 2017, arXiv
1711.09020, and Fader networks', Lample et al. 2017, arXiv 1706.00409):

* **colour**: red, green or blue strokes (one of the three, each with probability 1/3; a one-hot group);
* **thick**: strokes thickened by a 3 x 3 dilation (grey-scale maximum filter) of the 28 x 28 digit (p = 1/2);
* **rotated**: the digit turned 45 degrees clockwise about the centre (p = 1/2, bilinear, black fill).

Every digit is also turned by a small random angle, uniform in [-10, 10] degrees, before that: so rotated and upright
digits are both interpolated, and a classifier must tell them apart by their shape, not by the blur of resampling
(an attribute classifier trained without this read "rotated" from the blur and failed on resized images).

Twelve domains in all. Images are RGB in [-1, 1] at ``resolution`` (28, 32 or 64; the attributes are applied at
28 x 28, then the image is resized). Labels are ``(N, 1 + 5)``: the digit's class, then the attribute vector
``[red, green, blue, thick, rotated]`` in {0, 1}. ``DataInfo.attributes`` names the five and
``DataInfo.attribute_groups`` the one-hot group (the colour). The test split has its own draws.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import DataError
from .base import DATASETS, DataInfo, Loaded

ATTRIBUTES = ("red", "green", "blue", "thick", "rotated")
#: attribute indices that form one-hot groups (exactly one is 1)
GROUPS = ((0, 1, 2),)
ROTATION_DEGREES = 45.0
JITTER_DEGREES = 10.0


def thicken(x: torch.Tensor) -> torch.Tensor:
    """Grey-scale dilation by a 3 x 3 square: every pixel takes its neighbourhood's maximum."""
    return F.max_pool2d(x, 3, 1, 1)


def rotate(x: torch.Tensor, degrees=ROTATION_DEGREES) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in [-1, 1] turned ``degrees`` (a number, or one per image) clockwise (as seen) about
    their centre, black (-1) fill."""
    t = torch.deg2rad(torch.as_tensor(degrees, dtype=x.dtype).expand(x.shape[0]))
    cos, sin, zero = t.cos(), t.sin(), torch.zeros_like(t)
    theta = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def apply_attributes(x: torch.Tensor, attrs: torch.Tensor, jitter: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Grey digits ``(N, 1, H, W)`` drawn with attribute vectors ``attrs`` ``(N, 5)``: ``(N, 3, H, W)``; ``jitter``:
    each digit's small extra angle in degrees (default none)."""
    a = attrs.bool()
    x = torch.where(a[:, 3, None, None, None], thicken(x), x)
    angle = a[:, 4].to(x.dtype) * ROTATION_DEGREES + (0 if jitter is None else jitter.to(x.dtype))
    if jitter is not None or bool(a[:, 4].any()):
        x = rotate(x, angle)
    colour = attrs[:, :3].to(x.dtype)[:, :, None, None]  # (N, 3, 1, 1), one-hot
    return (x + 1) / 2 * colour * 2 - 1


def random_attributes(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` seeded attribute vectors: a uniform colour, and thick / rotated each with probability 1/2."""
    colour = F.one_hot(torch.randint(0, 3, (n,), generator=generator), 3)
    flags = (torch.rand(n, 2, generator=generator) < 0.5).long()
    return torch.cat([colour, flags], 1)


@DATASETS.register("mnist-attributes")
def mnist_attributes(*, resolution: int = 28, channels=None, split: str = "train", size=None, seed: int = 0,
                     **kwargs) -> Loaded:
    """MNIST digits with seeded colour, thickness and rotation attributes (12 domains; gankit.data.attributes)."""
    from .mnist import RESOLUTIONS, load_mnist_family

    if channels not in (None, 3):
        raise DataError(f"mnist-attributes is RGB (its colour is an attribute), got data.channels={channels!r}")
    if resolution not in RESOLUTIONS:
        raise DataError(f"mnist-attributes: data.resolution must be one of 28, 32, 64, got {resolution!r}")
    x, y, _ = load_mnist_family("mnist", resolution=28, channels=1, split=split, size=size, **kwargs)
    gen = torch.Generator().manual_seed(seed * 1000003 + (7 if split == "train" else 8))
    attrs = random_attributes(len(x), gen)
    jitter = (torch.rand(len(x), generator=gen) * 2 - 1) * JITTER_DEGREES
    images = apply_attributes(x, attrs, jitter)
    if resolution != 28:
        images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False,
                               antialias=True).clamp(-1, 1)
    info = DataInfo(name="mnist-attributes", kind="images", shape=tuple(images.shape[1:]), num_classes=10,
                    attributes=ATTRIBUTES, attribute_groups=GROUPS)
    return images.contiguous(), torch.cat([y[:, None], attrs], 1), info
