"""The nets of a Laplacian-pyramid GAN (Denton, Chintala, Szlam & Fergus 2015, arXiv 1506.05751, Sec. 3 and 4).

* :class:`ResidualGenerator` G_k(z_k, l_k): the coarse image l_k = u(I_{k+1}) and ``noise_planes`` planes of
  Gaussian noise z_k at the level's size, concatenated as channels, through 3x3 convolutions (batch norm, ReLU)
  to a linear output h_k of the image's channels: the residual that the level adds (the paper's CIFAR-10 finer
  generators: a few conv layers on the coarse image with the noise as an extra plane);
* :class:`PairDiscriminator` D_k(h_k, l_k): residual and coarse image concatenated as channels, stride-2 3x3
  convolutions (LeakyReLU), one linear layer to a logit;
* :class:`LaplacianGenerator`: the sampling chain. The coarsest level's G makes I_K from z; then, from coarse to
  fine, I_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1})). Its input is one vector holding z and every level's noise, so
  that the chain is an ordinary ``G(z)`` (seeded sampling, EMA, evaluation); the output is clamped to [-1, 1].
"""
from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import Tensor, nn

from ..nn import LayerFactory
from ..nn.pyramid import upsample


class ResidualGenerator(nn.Module):
    """G_k: ``(noise (N, noise_planes, s, s), coarse (N, C, s, s)) -> residual (N, C, s, s)``."""

    def __init__(self, channels: int, noise_planes: int, width: int, layers: int, factory: LayerFactory):
        super().__init__()
        if layers < 2:
            raise ValueError(f"a residual generator needs at least 2 conv layers, got {layers}")
        body: List[nn.Module] = []
        cin = channels + noise_planes
        for _ in range(layers - 1):
            body += [factory.conv(cin, width, 3, 1, 1), factory.norm_layer(width), factory.activation()]
            cin = width
        body.append(factory.conv(width, channels, 3, 1, 1))
        self.net = nn.Sequential(*body)
        self.noise_planes = noise_planes

    def forward(self, noise: Tensor, coarse: Tensor) -> Tensor:
        return self.net(torch.cat([coarse, noise], dim=1))


class PairDiscriminator(nn.Module):
    """D_k: ``(x (N, C, s, s), coarse (N, C, s, s)) -> logit (N,)``; ``stages`` stride-2 3x3 convs of ``width``,
    ``2 width``, ... channels, then a linear layer over the flattened map."""

    def __init__(self, channels: int, size: int, width: int, stages: int, factory: LayerFactory):
        super().__init__()
        layers: List[nn.Module] = []
        cin, side = 2 * channels, size
        for i in range(stages):
            cout = width * 2 ** i
            layers += [factory.conv(cin, cout, 3, 2, 1), factory.activation()]
            cin, side = cout, (side + 1) // 2
        self.trunk = nn.Sequential(*layers)
        self.head = factory.linear(cin * side * side, 1)

    def forward(self, x: Tensor, coarse: Tensor) -> Tensor:
        h = self.trunk(torch.cat([x, coarse], dim=1))
        return self.head(h.flatten(1)).squeeze(1)


class LaplacianGenerator(nn.Module):
    """The whole chain as one ``G(z)``. ``coarse``: G_K, ``z_dim`` numbers -> (C, s_K, s_K) image;
    ``levels``: G_0 .. G_{K-1}, finest first; ``sizes``: s_0 .. s_K. z = [z_K, z_{K-1} planes, ..., z_0 planes]
    (coarse to fine), of :attr:`latent_dim` numbers."""

    def __init__(self, coarse: nn.Module, levels: Sequence[ResidualGenerator], sizes: Sequence[int], z_dim: int):
        super().__init__()
        self.coarse, self.levels = coarse, nn.ModuleList(levels)
        self.sizes, self.z_dim = list(sizes), int(z_dim)
        self.planes = [g.noise_planes for g in levels]
        self.latent_dim = self.z_dim + sum(p * s * s for p, s in zip(self.planes, self.sizes))

    def split(self, z: Tensor) -> tuple:
        """``(z_K, [noise of G_0, ..., G_{K-1}])`` from the chain's input vectors ``z`` (N, latent_dim)."""
        n = z.shape[0]
        z_coarse, at = z[:, :self.z_dim], self.z_dim
        noise = [None] * len(self.levels)
        for k in reversed(range(len(self.levels))):
            size = self.planes[k] * self.sizes[k] ** 2
            noise[k] = z[:, at:at + size].reshape(n, self.planes[k], self.sizes[k], self.sizes[k])
            at += size
        return z_coarse, noise

    def images(self, z: Tensor) -> List[Tensor]:
        """Every level's image of the chain, coarsest first: ``[I_K, I_{K-1}, ..., I_0]`` (not clamped)."""
        z_coarse, noise = self.split(z)
        out = [self.coarse(z_coarse)]
        for k in reversed(range(len(self.levels))):
            up = upsample(out[-1])
            out.append(up + self.levels[k](noise[k], up))
        return out

    def forward(self, z: Tensor, y=None) -> Tensor:
        return self.images(z)[-1].clamp(-1.0, 1.0)


def strided_stages(size: int, target: int = 4) -> int:
    """The number of stride-2 stages that bring a side of ``size`` down to at most ``target`` (at least one)."""
    return max(1, math.ceil(math.log2(max(size, 1) / target)))
