"""Fully connected generator and discriminator (Goodfellow et al. 2014, arXiv 1406.2661).

The paper's D used maxout units and dropout; we use LeakyReLU(0.2), which trains the same
problems reliably and keeps the nets small and fast. For image data G ends in tanh and reshapes.
Calling convention as in :mod:`gankit.models.dcgan`: ``G(z, y=None)``, ``D(x, y=None)``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..nn import LabelSequential, LayerFactory


def _stack(cin: int, hidden: int, depth: int, f: LayerFactory) -> list:
    layers = []
    for i in range(depth):
        layers += [f.linear(cin if i == 0 else hidden, hidden), f.norm_layer(hidden, dims=1), f.activation()]
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple, hidden: int = 128, depth: int = 2,
                 factory: LayerFactory = LayerFactory(act="relu"), tanh: bool = False):
        super().__init__()
        self.out_shape = tuple(out_shape)
        out = math.prod(self.out_shape)
        layers = _stack(z_dim, hidden, depth, factory) + [factory.linear(hidden, out)]
        if tanh:
            layers.append(nn.Tanh())
        self.net = LabelSequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(z, y).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Outputs one unnormalised score (a logit for the standard GAN losses) per sample, shape ``(N,)``, or
    ``outputs`` of them, shape ``(N, outputs)`` (e.g. the semi-supervised GAN's K class logits)."""

    def __init__(self, in_shape: tuple, hidden: int = 128, depth: int = 2,
                 factory: LayerFactory = LayerFactory(act="lrelu"), outputs: int = 1):
        super().__init__()
        cin = math.prod(in_shape)
        self.outputs = outputs
        self.net = nn.Sequential(*_stack(cin, hidden, depth, factory), factory.linear(hidden, outputs))
        self.feature_dim = hidden

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x.flatten(1))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        out = self.net[-1](h)
        return out.squeeze(1) if self.outputs == 1 else out

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.trunk(x))
