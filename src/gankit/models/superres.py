"""SRGAN's networks (Ledig et al. 2016, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", arXiv 1609.04802, Fig. 4).

* :class:`SRResNet` -- the generator: a 9 x 9 conv (PReLU), ``blocks`` residual blocks (3 x 3 conv, batch norm,
  PReLU, 3 x 3 conv, batch norm, plus the input), a 3 x 3 conv with batch norm added to the first conv's output
  (the long skip), then ``log2(factor)`` upsamplers (3 x 3 conv to 4x the channels, a x2 pixel shuffle, Shi et
  al. 2016, PReLU) and a 9 x 9 conv to the image channels. The paper: 64 channels, 16 blocks, two upsamplers (x4).
  No tanh in the paper (its images are in [-1, 1] at the output); here tanh keeps outputs in gankit's range.
* :class:`SRDiscriminator` -- the VGG-style D: 3 x 3 convs with LeakyReLU 0.2, widths doubling every two layers
  (64, 64, 128, 128, 256, 256, 512, 512), every second one of stride 2, batch norm on all but the first, then a
  dense layer of 1024 units, LeakyReLU and one logit. ``width`` and ``stages`` scale it down.
"""
from __future__ import annotations

import math
from typing import List

from torch import Tensor, nn


class SRResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.BatchNorm2d(ch), nn.PReLU(ch),
                                  nn.Conv2d(ch, ch, 3, 1, 1), nn.BatchNorm2d(ch))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """``(N, C, h, w)`` -> ``(N, C, factor h, factor w)``; ``factor`` a power of 2."""

    def __init__(self, channels: int, width: int = 64, blocks: int = 16, factor: int = 4):
        super().__init__()
        ups = int(round(math.log2(factor)))
        if 2 ** ups != factor:
            raise ValueError(f"SRResNet upsamples by powers of 2, got factor {factor}")
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU(width))
        self.blocks = nn.Sequential(*[SRResidualBlock(width) for _ in range(blocks)],
                                    nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        up: List[nn.Module] = []
        for _ in range(ups):
            up += [nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Sequential(nn.Conv2d(width, channels, 9, 1, 4), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        h = self.head(x)
        return self.tail(self.up(h + self.blocks(h)))


class SRDiscriminator(nn.Module):
    """VGG-style D on ``(N, C, side, side)`` images: ``stages`` pairs of 3 x 3 convs (stride 1 then 2), widths
    ``width * 2^i``, then dense ``hidden`` and one logit ``(N,)``."""

    def __init__(self, channels: int, side: int, width: int = 64, stages: int = 4, hidden: int = 1024):
        super().__init__()
        layers: List[nn.Module] = []
        cin = channels
        for i in range(stages):
            w = width * 2 ** i
            layers += [nn.Conv2d(cin, w, 3, 1, 1)] + ([nn.BatchNorm2d(w)] if i else []) + [nn.LeakyReLU(0.2)]
            layers += [nn.Conv2d(w, w, 3, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            cin = w
        final = side // 2 ** stages
        if final < 1:
            raise ValueError(f"SRDiscriminator: {stages} halvings do not fit a {side} x {side} image")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * final * final, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(1)
