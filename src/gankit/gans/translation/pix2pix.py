"""pix2pix, Isola, Zhu, Zhou & Efros 2016, "Image-to-Image Translation with Conditional Adversarial Networks",
arXiv 1611.07004.

A conditional GAN on paired images: G maps an input image x (domain A) to an output (domain B); D scores
(input, output) pairs, the images concatenated along the channels, with a PatchGAN (one score per patch,
Sec. 3.2.2). G also minimises the L1 distance to the true output (Eq. 3 and 4):

    G* = arg min_G max_D  L_cGAN(G, D) + lambda L_L1(G),    L_L1 = E |y - G(x)|_1,    lambda = 100.

The noise z of a conditional GAN is only dropout in G's decoder (Sec. 3.1). D's loss is halved, "which slows
down the rate at which D learns relative to G" (Sec. 3.3); G uses the non-saturating loss. Nets: the U-Net
generator and the PatchGAN of :mod:`gankit.models.translation`, with batch norm, and the paper's init N(0, 0.02)
(Appendix 6.2), Adam(2e-4, beta1 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from ...config import _rng
from ...errors import ConfigError
from ...models.translation import PatchDiscriminator, UNetGenerator
from ...nn import init_dcgan
from .. import GANS
from ..base import StepResult
from .base import Translator


@dataclass
class Pix2PixParams:
    """``model.*`` for pix2pix."""

    g_width: int = field(default=64, metadata=_rng(1))       # U-Net's first layer's channels
    d_width: int = field(default=64, metadata=_rng(1))       # PatchGAN's first layer's channels
    depth: int = field(default=5, metadata=_rng(1))           # U-Net halvings (side 2^depth -> 1)
    d_layers: int = field(default=2, metadata=_rng(1))        # PatchGAN's stride-2 convs
    norm: Literal["batch", "instance", "none"] = "batch"
    dropout: float = field(default=0.5, metadata=_rng(0.0, 1.0, hi_open=True))
    dropout_layers: int = field(default=3, metadata=_rng(0))
    l1_weight: float = field(default=100.0, metadata=_rng(0.0))  # lambda of Eq. 4
    d_loss_scale: float = field(default=0.5, metadata=_rng(0.0, lo_open=True))  # D's objective halved (Sec. 3.3)


class Pix2Pix(Translator):
    """Isola et al. 2016 (arXiv 1611.07004): U-Net G, PatchGAN D on (input, output), L1 weight 100."""

    Params = Pix2PixParams
    needs_pairs = True
    directions = ("ab",)
    no_penalties_why = "pix2pix's D scores (input, output) pairs; its paper uses no penalty"

    def build(self, info):
        p, (ca, cb) = self.p, self.domain_channels
        side = info.shape[-1]
        if side % (2 ** p.depth):
            raise ConfigError(f"config: model.depth={p.depth} halves the image {p.depth} times, so its side must be a "
                              f"multiple of {2 ** p.depth}; '{info.name}' is {side} x {side} (use data.resolution=32)")
        G = UNetGenerator(ca, cb, p.g_width, p.depth, p.dropout, p.dropout_layers, p.norm)
        D = PatchDiscriminator(ca + cb, p.d_width, p.d_layers, p.norm)
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    def d_step(self, real: Tensor, labels) -> StepResult:
        xa, xb = self.split(real)
        with torch.no_grad():
            fake = self.G(xa)
        loss = self.p.d_loss_scale * self.objective.d_loss(self.D(torch.cat([xa, xb], 1)),
                                                          self.D(torch.cat([xa, fake], 1)))
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels) -> StepResult:
        xa, xb = self.split(real)
        fake = self.G(xa)
        d_real = self.D(torch.cat([xa, xb], 1)) if self.objective.g_needs_real else None
        adv = self.objective.g_loss(self.D(torch.cat([xa, fake], 1)), d_real)
        l1 = (fake - xb).abs().mean()
        loss = adv + self.p.l1_weight * l1
        return loss, {"g_loss": adv.detach(), "l1": l1.detach()}


GANS.add("pix2pix", Pix2Pix)
