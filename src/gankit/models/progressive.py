"""The growing generator and discriminator of ProGAN (Karras, Aila, Laine & Lehtinen 2017, "Progressive Growing
of GANs for Improved Quality, Stability, and Variation", arXiv 1710.10196, Sec. 2 and App. A, Table 2).

Stage 0 works at 4x4; stage s at 4 * 2^s. Both nets hold every stage's layers from the start and use those up
to the current stage; while stage s is faded in (alpha from 0 to 1) its output is blended with the output of
the net without it (:func:`~gankit.nn.progressive.fade_in`):

* G: latent (pixel-normalised) -> dense to 4x4 -> conv 3x3, then per stage: nearest 2x upsampling, two 3x3 convs;
  LeakyReLU 0.2 and pixel norm after every conv; a 1x1 ``to_rgb`` conv per stage, linear. At stage s with alpha:
  (1 - alpha) u(to_rgb_{s-1}(h_{s-1})) + alpha to_rgb_s(block_s(h_{s-1})).
* D: a 1x1 ``from_rgb`` conv per stage (LeakyReLU), then per stage two 3x3 convs and 2x2 average pooling; at
  4x4 the minibatch standard deviation channel, a 3x3 conv, a 4x4 conv and a linear layer to one score. At
  stage s with alpha: (1 - alpha) from_rgb_{s-1}(d(x)) + alpha block_s(from_rgb_s(x)) feeds the rest.

Every weight layer has the equalised learning rate. The stage and alpha in use are attributes (``stage``,
``alpha``) that the GAN sets, so ``G(z)`` and ``D(x)`` keep the library's calling convention; ``G(z)`` returns
the current stage's image enlarged to the data's resolution (nearest neighbour) and clamped to [-1, 1], which is
what sampling and evaluation read, while training uses :meth:`ProGenerator.at_stage`.
"""
from __future__ import annotations

import math
from typing import List

import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.progressive import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, fade_in
from ..nn.pyramid import enlarge


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ProGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, widths: List[int]):
        super().__init__()
        self.z_dim, self.stages = z_dim, len(widths)
        self.resolution = 4 * 2 ** (self.stages - 1)
        w0 = widths[0]
        # the dense layer's gain is sqrt(2) / 4 (the authors' code: a 4x4 "conv" on a 1x1 latent)
        self.dense = EqualizedLinear(z_dim, w0 * 16, gain=math.sqrt(2) / 4)
        self.first = nn.Sequential(_act(), PixelNorm(), EqualizedConv2d(w0, w0, 3, 1), _act(), PixelNorm())
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(EqualizedConv2d(widths[s - 1], widths[s], 3, 1), _act(), PixelNorm(),
                          EqualizedConv2d(widths[s], widths[s], 3, 1), _act(), PixelNorm())
            for s in range(1, self.stages)])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(w, channels, 1, gain=1.0) for w in widths])
        self.pixel_norm = PixelNorm()
        self.stage, self.alpha = self.stages - 1, 1.0

    def at_stage(self, z: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        """The image at stage ``stage`` (side 4 * 2^stage), stage ``stage`` faded in by ``alpha``."""
        h = self.first(self.dense(self.pixel_norm(z)).view(z.shape[0], -1, 4, 4))
        for s in range(1, stage):
            h = self.blocks[s](_up(h))
        if stage == 0:
            return self.to_rgb[0](h)
        new = self.to_rgb[stage](self.blocks[stage](_up(h)))
        if alpha >= 1.0:
            return new
        return fade_in(alpha, _up(self.to_rgb[stage - 1](h)), new)

    def forward(self, z: Tensor, y=None) -> Tensor:
        return enlarge(self.at_stage(z, self.stage, self.alpha), self.resolution)


class ProDiscriminator(nn.Module):
    def __init__(self, channels: int, widths: List[int], group_size: int = 4):
        super().__init__()
        self.stages = len(widths)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(channels, w, 1), _act()) for w in widths])
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(EqualizedConv2d(widths[s], widths[s], 3, 1), _act(),
                          EqualizedConv2d(widths[s], widths[s - 1], 3, 1), _act(), nn.AvgPool2d(2))
            for s in range(1, self.stages)])
        w0 = widths[0]
        self.final = nn.Sequential(MinibatchStdDev(group_size), EqualizedConv2d(w0 + 1, w0, 3, 1), _act(),
                                   EqualizedConv2d(w0, w0, 4, 0), _act(), nn.Flatten(),
                                   EqualizedLinear(w0, 1, gain=1.0))
        self.stage, self.alpha = self.stages - 1, 1.0

    def at_stage(self, x: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        """D's score ``(N,)`` of images ``x`` at stage ``stage`` (side 4 * 2^stage), faded in by ``alpha``."""
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1.0:
                h = fade_in(alpha, self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), h)
            for s in range(stage - 1, 0, -1):
                h = self.blocks[s](h)
        return self.final(h).squeeze(1)

    def forward(self, x: Tensor, y=None) -> Tensor:
        return self.at_stage(x, self.stage, self.alpha)


def stage_widths(resolution: int, width_base: int, max_width: int) -> List[int]:
    """Channels per stage, 4x4 first: min(max_width, width_base / side) (the paper's 8192 / side capped at 512)."""
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"progressive growing needs a power-of-two resolution of at least 4, got {resolution}")
    sides = [4 * 2 ** s for s in range(int(math.log2(resolution // 4)) + 1)]
    return [max(1, min(max_width, width_base // side)) for side in sides]


def faded_real(x: Tensor, stage: int, alpha: float, resolution: int) -> Tensor:
    """Real images as D sees them at ``stage`` (side 4 * 2^stage): average-pooled from ``resolution`` and, while the
    stage fades in, blended with their 2x coarser version enlarged (nearest), as the paper fades real images."""
    side = 4 * 2 ** stage
    if side != resolution:
        x = F.avg_pool2d(x, resolution // side)
    if stage > 0 and alpha < 1.0:
        x = fade_in(alpha, _up(F.avg_pool2d(x, 2)), x)
    return x

