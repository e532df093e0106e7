"""SNGAN, Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks",
arXiv 1802.05957.

Every weight layer of D is divided by its spectral norm, estimated by one power-iteration step per
training-mode forward with a persistent u (``LayerFactory(sn=True)``), which bounds each layer's
Lipschitz constant by 1 without any loss term. Networks: the paper's "standard CNN" (Table 3,
:mod:`gankit.models.sngan`) for images, or MLPs with SN on every D layer for the 2-D mixtures. The
steps are the base class's (objective + penalties); the paper trains with the hinge loss (the
default here) or the non-saturating one. Paper settings live in ``configs/sngan.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import _rng
from ..models import MLPDiscriminator, MLPGenerator
from ..models.sngan import SNGANDiscriminator, SNGANGenerator
from ..nn import LayerFactory, init_dcgan
from . import GANS
from .base import GAN


@dataclass
class SNGANParams:
    """``model.*`` for SNGAN."""

    arch: Literal["auto", "mlp", "cnn"] = "auto"       # auto: mlp for 2-D points, the standard CNN for images
    z_dim: int = field(default=128, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))   # CNN: channels of G's last block (paper 64)
    d_width: int = field(default=64, metadata=_rng(1))   # CNN: channels of D's first block (paper 64)
    hidden: int = field(default=256, metadata=_rng(1))   # MLP width
    g_depth: int = field(default=3, metadata=_rng(1))    # MLP hidden layers
    d_depth: int = field(default=3, metadata=_rng(1))
    d_sn: bool = True                                    # false: the same D without SN (for comparison)
    d_slope: float = field(default=0.1, metadata=_rng(0.0, 1.0))  # LeakyReLU slope in D (paper 0.1)


class SNGAN(GAN):
    """Miyato et al. 2018 (arXiv 1802.05957): spectral normalisation on every D layer, standard CNN,
    hinge loss, Adam(2e-4, (0.5, 0.999)), n_dis 1."""

    Params = SNGANParams
    default_objective = "hinge"

    def build(self, info):
        p = self.p
        arch = self.pick_arch(info, "cnn")
        d_factory = LayerFactory(sn=p.d_sn, act="lrelu", slope=p.d_slope)
        if arch == "mlp":
            G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(act="relu"),
                             tanh=info.kind == "images")
            D = MLPDiscriminator(info.shape, p.hidden, p.d_depth, d_factory)
            return G, D
        G = SNGANGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(norm="batch", act="relu"))
        D = SNGANDiscriminator(info.shape, p.d_width, d_factory)
        init_dcgan(G)  # D keeps PyTorch's init: SN removes its scale, and re-initialising the weights would
        return G, D    # discard the 15 power-iteration steps spectral_norm ran on them at registration


GANS.add("sngan", SNGAN)
