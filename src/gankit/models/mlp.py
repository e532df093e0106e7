"""Fully connected generator and discriminator (Goodfellow et al. 2014, arXiv 1406.2661).

The paper's D used maxout units and dropout; we use LeakyReLU(0.2), which trains the same
problems reliably and keeps the nets small and fast. For image data G ends in tanh and reshapes.
Calling convention as in :mod:`gankit.models.dcgan`: ``G(z, y=None)``, ``D(x, y=None)``.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..nn import GaussianNoise, LabelSequential, LayerFactory

Hidden = Union[int, Sequence[int]]


def hidden_widths(hidden: Hidden, depth: Optional[int]) -> Tuple[int, ...]:
    """The hidden layers' widths: ``depth`` layers of ``hidden`` units, or the list ``hidden`` itself (then
    ``depth`` must be None or its length)."""
    if isinstance(hidden, int):
        if depth is None:
            raise ValueError("an MLP of constant width needs its depth")
        return (hidden,) * depth
    widths = tuple(int(h) for h in hidden)
    if depth is not None and depth != len(widths):
        raise ValueError(f"MLP widths {widths} give {len(widths)} hidden layers, not depth {depth}")
    return widths


def _stack(cin: int, widths: Sequence[int], f: LayerFactory, noise: float = 0.0) -> list:
    """Linear - norm - activation per width; with ``noise`` > 0 Gaussian noise before every layer but the first."""
    layers: list = []
    for i, w in enumerate(widths):
        if i and noise > 0:
            layers.append(GaussianNoise(noise))
        layers += [f.linear(cin if i == 0 else widths[i - 1], w), f.norm_layer(w, dims=1), f.activation()]
    return layers


class MLPGenerator(nn.Module):
    """``hidden``: a width for ``depth`` hidden layers, or a list of widths (``depth`` None)."""

    def __init__(self, z_dim: int, out_shape: tuple, hidden: Hidden = 128, depth: Optional[int] = 2,
                 factory: LayerFactory = LayerFactory(act="relu"), tanh: bool = False):
        super().__init__()
        self.out_shape = tuple(out_shape)
        out = math.prod(self.out_shape)
        widths = hidden_widths(hidden, depth)
        layers = _stack(z_dim, widths, factory) + [factory.linear(widths[-1], out)]
        if tanh:
            layers.append(nn.Tanh())
        self.net = LabelSequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(z, y).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Outputs one unnormalised score (a logit for the standard GAN losses) per sample, shape ``(N,)``, or
    ``outputs`` of them, shape ``(N, outputs)`` (e.g. the semi-supervised GAN's K class logits). ``hidden``:
    a width for ``depth`` hidden layers, or a list of widths (``depth`` None). ``noise``: std of Gaussian noise
    added before every hidden layer but the first, in training mode (Salimans et al. 2016's MNIST D; the noise
    on the input and before the output layer belongs to the caller, e.g. :class:`~gankit.nn.ClassifierDiscriminator`)."""

    def __init__(self, in_shape: tuple, hidden: Hidden = 128, depth: Optional[int] = 2,
                 factory: LayerFactory = LayerFactory(act="lrelu"), outputs: int = 1, noise: float = 0.0):
        super().__init__()
        cin = math.prod(in_shape)
        self.outputs = outputs
        widths = hidden_widths(hidden, depth)
        self.net = nn.Sequential(*_stack(cin, widths, factory, noise), factory.linear(widths[-1], outputs))
        self.feature_dim = widths[-1]

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x.flatten(1))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        out = self.net[-1](h)
        return out.squeeze(1) if self.outputs == 1 else out

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.head(self.trunk(x))
