"""The first GANs: ``gan`` (Goodfellow et al. 2014, arXiv 1406.2661) with MLP nets, and ``dcgan``
(Radford et al. 2015, arXiv 1511.06434). Both take the base class's steps; they differ only in
the networks they build."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import _rng
from ..models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ..nn import LayerFactory, init_dcgan
from . import GANS
from .base import GAN


@dataclass
class MLPParams:
    z_dim: int = field(default=32, metadata=_rng(1))
    hidden: int = field(default=256, metadata=_rng(1))
    g_depth: int = field(default=3, metadata=_rng(1))
    d_depth: int = field(default=3, metadata=_rng(1))
    g_norm: Literal["batch", "layer", "none"] = "none"
    d_sn: bool = False


@GANS.register("gan")
class VanillaGAN(GAN):
    """Goodfellow et al. 2014. G and D are MLPs; for 2-D mixtures G's output is linear, for images
    it ends in tanh. Choose the generator loss with ``objective: minimax`` (saturating, the
    paper's formulation) or ``nonsaturating`` (the paper's practical variant, the default)."""

    Params = MLPParams

    def build(self, info):
        p = self.p
        G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(norm=p.g_norm, act="relu"),
                         tanh=info.kind == "images")
        D = MLPDiscriminator(info.shape, p.hidden, p.d_depth, LayerFactory(sn=p.d_sn, act="lrelu"))
        return G, D


@dataclass
class DCGANParams:
    z_dim: int = field(default=100, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))
    d_norm: Literal["batch", "instance", "layer", "none"] = "batch"
    d_sn: bool = False


@GANS.register("dcgan")
class DCGAN(GAN):
    """Radford et al. 2015: all-convolutional G and D with batch norm, N(0, 0.02) init,
    Adam(2e-4, beta1 = 0.5), z in R^100. Resolution (28, 32, 64, ...) and width are parameters;
    grayscale or RGB follow the data."""

    Params = DCGANParams
    needs_images = True

    def build(self, info):
        p = self.p
        G = DCGANGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(norm="batch", act="relu"))
        D = DCGANDiscriminator(info.shape, p.d_width, LayerFactory(sn=p.d_sn, norm=p.d_norm, act="lrelu"))
        init_dcgan(G)
        init_dcgan(D)
        return G, D
