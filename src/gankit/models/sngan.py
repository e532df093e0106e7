"""The "standard CNN" of Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks", arXiv 1802.05957 (Table 3; the CIFAR-10/STL-10 baseline of Sec. 4).

Generator: z (128) -> dense to base x base x 8w -> per stage [4x4 stride-2 deconvolution, BN, ReLU]
halving the channels (512 -> 256 -> 128 -> 64 at the paper's width w = 64) -> 3x3 convolution to
the image channels, tanh.

Discriminator: per stage [3x3 stride-1 conv, 4x4 stride-2 conv] at w, 2w, 4w ... channels (the
stride-2 conv keeps the channel count), then a 3x3 conv doubling once more, then a dense layer to one
output; LeakyReLU(0.1) after every conv, no batch norm; every weight layer comes from the factory, so
``LayerFactory(sn=True)`` spectrally normalises all of them. With three stages and w = 64 this is
the paper's 64, 64, 128, 128, 256, 256, 512 -> dense.

Resolution is a parameter through :func:`~gankit.models.dcgan.plan`: 28 x 28 gives two stride-2
stages from a 7 x 7 base, 32 x 32 three from 4 x 4, 64 x 64 four; the width parameter scales every
channel count. The bottom of both nets has ``w * 2**stages`` channels.

Calling convention as in :mod:`gankit.models.dcgan`: ``G(z, y=None)`` (labels reach conditional
batch norm), ``D(x, y=None)`` (ignored; ``trunk`` / ``head`` / ``feature_dim`` for the conditioning parts).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..nn import LabelSequential, LayerFactory
from .dcgan import plan


class SNGANGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(norm="batch", act="relu")):
        super().__init__()
        channels, res, _ = out_shape
        self.base, stages = plan(res)
        ch = width * 2 ** stages
        self.bottom = ch
        self.fc = factory.linear(z_dim, self.base * self.base * ch)
        layers = [factory.norm_layer(ch), factory.activation()]
        for _ in range(stages):
            layers += [factory.deconv(ch, ch // 2, 4, 2, 1), factory.norm_layer(ch // 2), factory.activation()]
            ch //= 2
        layers += [factory.conv(ch, channels, 3, 1, 1), nn.Tanh()]
        self.net = LabelSequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.fc(z.flatten(1)).view(z.shape[0], self.bottom, self.base, self.base)
        return self.net(h, y)


class SNGANDiscriminator(nn.Module):
    """Outputs one unnormalised score per sample. Pass ``LayerFactory(sn=True, act='lrelu', slope=0.1)``
    for the paper's SN-GAN discriminator."""

    def __init__(self, in_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(sn=True, act="lrelu", slope=0.1)):
        super().__init__()
        channels, res, _ = in_shape
        base, stages = plan(res)
        layers, cin = [], channels
        for i in range(stages):
            ch = width * 2 ** i
            layers += [factory.conv(cin, ch, 3, 1, 1), factory.activation(),
                       factory.conv(ch, ch, 4, 2, 1), factory.activation()]
            cin = ch
        layers += [factory.conv(cin, cin * 2, 3, 1, 1), factory.activation()]
        self.features = nn.Sequential(*layers)
        self.fc = factory.linear(cin * 2 * base * base, 1)
        self.feature_dim = cin * 2 * base * base

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The features phi(x), flattened."""
        return self.features(x).flatten(1)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The score psi(h), one per sample."""
        return self.fc(h.flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1)).squeeze(1)
