"""ResNet generator and discriminator of the SNGAN / WGAN-GP line: Gulrajani et al. 2017 ("Improved
Training of Wasserstein GANs", arXiv 1704.00028, Appendix F), Miyato et al. 2018 ("Spectral
Normalization for GANs", arXiv 1802.05957, Appendix B.4, Tables 4-6), Miyato & Koyama 2018 (projection
D), and the bases of SAGAN (Zhang et al. 2018, arXiv 1805.08318) and BigGAN (Brock et al. 2018, arXiv
1809.11096).

Blocks (pre-activation residual blocks, He et al. 2016):

* :class:`GBlock`: ``norm -> ReLU -> upsample x2 (nearest) -> conv 3x3 -> norm -> ReLU -> conv 3x3``, plus
  the shortcut ``upsample -> conv 1x1`` (the 1x1 conv whenever the block resamples or changes channels);
* :class:`DBlock`: ``ReLU -> conv 3x3 -> ReLU -> conv 3x3 -> avg-pool 2``, shortcut ``conv 1x1 -> avg-pool``;
  D's first block has no leading ReLU and pools its shortcut before the 1x1 conv (the "optimised" block of
  the SNGAN code).

Generator: z -> linear to base x base x C -> one up block per x2 stage -> batch norm -> ReLU -> conv 3x3 ->
tanh. Discriminator: down blocks to 8 x 8 (7 x 7 for 28 x 28 data), two blocks without resampling, ReLU,
global sum pooling, linear. At 32 x 32 these are SNGAN's CIFAR-10 ResNets (Table 4: G 256 and D 128 channels
at the paper's widths); at 64 x 64 four up blocks and three down blocks. Channels are ``width`` throughout;
``widen`` halves G's channels at every up block from ``width * 2**(stages - 1)`` and doubles D's at every down
block, the pyramid of the 64 x 64 and larger nets. Resolution follows :func:`~gankit.models.dcgan.plan`.

Options, all through parts: every conv / linear from the layer factory (``sn`` for SN, ``norm`` for G's
norms: ``batch``, ``conditional`` (class-conditional BN, labels y) or ``conditional-linear`` (BigGAN's BN on
a conditioning vector)); ``attention`` = R puts a :class:`~gankit.nn.attention.SelfAttention` block after the
block whose output is R x R (SAGAN); in G ``shared_dim`` > 0 adds BigGAN's shared class embedding and
``hierarchical`` splits z into one chunk for the linear layer and one per block, each block's norms then
conditioned on ``[chunk, embedding(y)]`` (Brock et al. Sec. 3, Fig. 15).

Calling convention as everywhere: ``G(z, y=None)``, ``D(x, y=None)`` with ``trunk`` / ``head`` /
``feature_dim`` for the conditioning parts (projection, class heads, rotation heads).
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import LayerFactory
from ..nn.attention import SelfAttention
from ..nn.conditioning import Conditional
from .dcgan import plan


def _norm(layer: nn.Module, h: Tensor, c: Optional[Tensor]) -> Tensor:
    return layer(h, c) if isinstance(layer, Conditional) else layer(h)


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factory: LayerFactory, up: bool = True):
        super().__init__()
        self.up = up
        self.norm1 = factory.norm_layer(cin)
        self.conv1 = factory.conv(cin, cout, 3, 1, 1)
        self.norm2 = factory.norm_layer(cout)
        self.conv2 = factory.conv(cout, cout, 3, 1, 1)
        self.shortcut = factory.conv(cin, cout, 1) if (up or cin != cout) else None

    def forward(self, x: Tensor, c: Optional[Tensor] = None) -> Tensor:
        h = F.relu(_norm(self.norm1, x, c))
        if self.up:
            h, x = F.interpolate(h, scale_factor=2.0), F.interpolate(x, scale_factor=2.0)
        h = self.conv2(F.relu(_norm(self.norm2, self.conv1(h), c)))
        return h + (self.shortcut(x) if self.shortcut is not None else x)


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, factory: LayerFactory, down: bool = True, first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = factory.conv(cin, cout, 3, 1, 1)
        self.conv2 = factory.conv(cout, cout, 3, 1, 1)
        self.shortcut = factory.conv(cin, cout, 1) if (down or cin != cout) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:  # pool first, then the 1x1 conv (the optimised block)
            s = self.shortcut(F.avg_pool2d(s, 2) if self.down else s)
        elif self.shortcut is not None:
            s = self.shortcut(s)
            s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


def _out_norm(factory: LayerFactory) -> nn.Module:
    """G's last norm: plain batch norm when the blocks' norms are conditional (as in the projection and
    BigGAN generators), else the blocks' own kind."""
    kind = "batch" if factory.norm.startswith("conditional") else factory.norm
    return LayerFactory(norm=kind).norm_layer


class ResNetGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(norm="batch", act="relu"), attention: int = 0,
                 widen: bool = False, num_classes: int = 0, shared_dim: int = 0, hierarchical: bool = False):
        super().__init__()
        channels, res, _ = out_shape
        self.base, stages = plan(res)
        # channels before each block and after the last: constant, or halving from width * 2**(stages-1)
        chans = [width * 2 ** (stages - 1 - i) if widen else width for i in range(stages)] + [width]
        self.bottom, self.num_up = chans[0], stages
        self.hierarchical = hierarchical
        if hierarchical:
            if not shared_dim:
                raise ConfigError("config: a hierarchical latent needs the shared class embedding (model.shared_dim > 0)")
            k = z_dim // (stages + 1)
            if k < 1:
                raise ConfigError(f"config: model.z_dim={z_dim} is too small to split into {stages + 1} chunks")
            self.chunks: List[int] = [z_dim - k * stages] + [k] * stages
        else:
            self.chunks = [z_dim]
        self.shared = nn.Embedding(num_classes, shared_dim) if shared_dim else None
        if shared_dim:  # the blocks' norms read [z chunk, e(y)] (or e(y)) through linear projections
            cond_dim = shared_dim + (self.chunks[1] if hierarchical else 0)
            factory = dataclasses.replace(factory, norm="conditional-linear", cond_dim=cond_dim)
        self.fc = factory.linear(self.chunks[0], self.base * self.base * self.bottom)
        blocks, res_now = [], self.base
        for i in range(stages):
            res_now *= 2
            blocks.append(GBlock(chans[i], chans[i + 1], factory, up=True))
            if attention == res_now:
                blocks.append(SelfAttention(chans[i + 1], factory))
        if attention and not any(isinstance(b, SelfAttention) for b in blocks):
            raise ConfigError(f"config: model.attention={attention} is not a feature-map size of this G "
                              f"({', '.join(str(self.base * 2 ** (i + 1)) for i in range(stages))})")
        self.blocks = nn.ModuleList(blocks)
        self.out_norm = _out_norm(factory)(chans[-1])
        self.out_conv = factory.conv(chans[-1], channels, 3, 1, 1)

    def block_conditions(self, z: Tensor, y: Optional[Tensor]):
        """``(input of the linear layer, one condition per GBlock)``: y for class-conditional norms; with the
        shared embedding e(y), e(y) or (hierarchical) ``[z chunk, e(y)]``."""
        n = len(self.chunks) - 1 if self.hierarchical else self.num_up
        if self.shared is None:
            return z, [y] * n
        e = self.shared(y)
        if not self.hierarchical:
            return z, [e] * n
        parts = torch.split(z, self.chunks, 1)
        return parts[0], [torch.cat([p, e.to(p.dtype)], 1) for p in parts[1:]]

    def forward(self, z: Tensor, y: Optional[Tensor] = None) -> Tensor:
        z = z.flatten(1)
        z0, conds = self.block_conditions(z, y)
        h = self.fc(z0).view(z.shape[0], self.bottom, self.base, self.base)
        i = 0
        for block in self.blocks:
            if isinstance(block, GBlock):
                h, i = block(h, conds[i]), i + 1
            else:
                h = block(h)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))


class ResNetDiscriminator(nn.Module):
    """One unnormalised score per sample (``outputs`` > 1: that many, e.g. class logits)."""

    def __init__(self, in_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(sn=True, act="relu"), attention: int = 0,
                 widen: bool = False, outputs: int = 1):
        super().__init__()
        channels, res, _ = in_shape
        base, stages = plan(res)
        end = 7 if base == 7 else 8
        downs = max(1, round(math.log2(res / end)))
        blocks, cin, res_now = [], channels, res
        for i in range(downs):
            cout = width * 2 ** i if widen else width
            blocks.append(DBlock(cin, cout, factory, down=True, first=i == 0))
            res_now //= 2
            if attention == res_now:
                blocks.append(SelfAttention(cout, factory))
            cin = cout
        if attention and not any(isinstance(b, SelfAttention) for b in blocks):
            raise ConfigError(f"config: model.attention={attention} is not a feature-map size of this D "
                              f"({', '.join(str(res // 2 ** (i + 1)) for i in range(downs))})")
        blocks += [DBlock(cin, cin, factory, down=False), DBlock(cin, cin, factory, down=False)]
        self.blocks = nn.Sequential(*blocks)
        self.outputs = outputs
        self.fc = factory.linear(cin, outputs)
        self.feature_dim = cin

    def trunk(self, x: Tensor) -> Tensor:
        """phi(x): ReLU, then the sum over positions of the last feature map, ``(N, C)``."""
        return F.relu(self.blocks(x)).sum((2, 3))

    def head(self, h: Tensor) -> Tensor:
        out = self.fc(h.flatten(1))
        return out.squeeze(1) if self.outputs == 1 else out

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.head(self.trunk(x))
