"""DCGAN networks, Radford et al. 2015, "Unsupervised Representation Learning with Deep
Convolutional GANs", arXiv 1511.06434.

The paper's rules: strided convolutions in D and fractionally-strided (transposed) convolutions in
G, no pooling and no hidden fully connected layers, batch norm in both nets except G's output and
D's input layer, ReLU in G with tanh output, LeakyReLU(0.2) in D.

Resolution is a parameter: the nets start (G) / end (D) at a ``base`` x ``base`` map with
base = 7 for 28 x 28 (MNIST's native size) and 4 otherwise, and double / halve from there, so
28, 32, 64, 128... all come from this one definition. Channel width doubles as resolution halves.

Calling convention (:mod:`gankit.nn.conditioning`): ``G(z, y=None)``, ``D(x, y=None)``. The labels
reach G's normalisation layers (class-conditional batch norm with ``LayerFactory(norm="conditional")``)
and are ignored otherwise; D ignores them and exposes ``trunk`` / ``head`` / ``feature_dim`` for the
conditioning parts that add a projection or a class head.

``fc`` > 0 adds one hidden fully connected layer of that width (with the nets' norm and activation) at
G's input and before D's output, as in InfoGAN's MNIST nets (Chen et al. 2016, arXiv 1606.03657,
Appendix C, Table 1: FC 1024 in both); DCGAN itself has none (``fc=0``, the default). The layer is a
1 x 1 (de)convolution on the 1 x 1 map, i.e. a linear layer, so the labels still reach its norm.

``minibatch`` = B > 0 puts minibatch discrimination (Salimans et al. 2016, arXiv 1606.03498, Sec. 3.2;
:class:`gankit.nn.MinibatchDiscrimination`, ``minibatch_dim`` = C) between D's features and its output:
the last layer is then a linear layer on ``[features, B minibatch features]``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import LabelSequential, LayerFactory


def plan(resolution: int) -> tuple:
    """(base, number of x2 stages) such that base * 2**stages == resolution."""
    for base in (7, 4):
        stages = math.log2(resolution / base)
        if resolution % base == 0 and stages >= 1 and stages.is_integer():
            return base, int(stages)
    raise ConfigError(f"config: DCGAN resolution must be 7*2^k or 4*2^k (e.g. 28, 32, 64), got {resolution}")


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(norm="batch", act="relu"), fc: int = 0):
        super().__init__()
        channels, res, _ = out_shape
        base, stages = plan(res)
        ch = width * 2 ** (stages - 1)
        bias = factory.norm == "none"  # a bias is redundant only before a normalisation layer
        layers = []
        if fc > 0:  # InfoGAN's hidden FC layer
            layers += [factory.deconv(z_dim, fc, 1, 1, 0, bias=bias), factory.norm_layer(fc), factory.activation()]
            z_dim = fc
        layers += [factory.deconv(z_dim, ch, base, 1, 0, bias=bias), factory.norm_layer(ch), factory.activation()]
        for _ in range(stages - 1):
            layers += [factory.deconv(ch, ch // 2, 4, 2, 1, bias=bias), factory.norm_layer(ch // 2), factory.activation()]
            ch //= 2
        layers += [factory.deconv(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = LabelSequential(*layers)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1), y)


class DCGANDiscriminator(nn.Module):
    """``outputs``: scores per sample from the last layer, 1 (a logit, shape ``(N,)``) or more (e.g. the K
    class logits of the semi-supervised GAN's D, shape ``(N, outputs)``)."""

    def __init__(self, in_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(norm="batch", act="lrelu"), outputs: int = 1, fc: int = 0,
                 minibatch: int = 0, minibatch_dim: int = 5):
        super().__init__()
        self.outputs = outputs
        channels, res, _ = in_shape
        base, stages = plan(res)
        ch = width
        layers = [factory.conv(channels, ch, 4, 2, 1), factory.activation()]  # no norm on the input layer
        for _ in range(stages - 1):
            layers += [factory.conv(ch, ch * 2, 4, 2, 1, bias=factory.norm == "none"), factory.norm_layer(ch * 2),
                       factory.activation()]
            ch *= 2
        if fc > 0:  # InfoGAN's hidden FC layer: the trunk's features are its fc outputs
            layers += [factory.conv(ch, fc, base, 1, 0, bias=factory.norm == "none"), factory.norm_layer(fc),
                       factory.activation()]
            ch, base = fc, 1
        if minibatch > 0:  # Salimans et al.'s minibatch features, then a linear output layer
            from ..nn import MinibatchDiscrimination

            mbd = MinibatchDiscrimination(ch * base * base, minibatch, minibatch_dim)
            layers += [nn.Sequential(nn.Flatten(), mbd, factory.linear(mbd.out_features, outputs))]
        else:
            layers += [factory.conv(ch, outputs, base, 1, 0)]
        self.net = nn.Sequential(*layers)
        self.feature_dim = ch * base * base

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The features phi(x): the last ``ch x base x base`` map (the ``fc`` features when ``fc`` > 0)."""
        return self.net[:-1](x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The score psi(h), one per sample (``outputs`` of them when more than one)."""
        last = self.net[-1]
        if not isinstance(last, nn.Conv2d):  # the minibatch-discrimination output (flattens itself)
            return self._scores(last(h))
        return self._scores(last(h.view(h.shape[0], -1, *last.kernel_size)))

    def _scores(self, out: torch.Tensor) -> torch.Tensor:
        out = out.flatten(1)
        return out.squeeze(1) if self.outputs == 1 else out

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self._scores(self.net(x))
