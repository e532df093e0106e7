"""The projection discriminator, Miyato & Koyama 2018, "cGANs with Projection Discriminator",
arXiv 1802.05637.

D(x, y) = psi(phi(x)) + <embed(y), phi(x)> (Eq. 3): instead of feeding y to D's input, the label's
embedding is projected onto D's features, which follows from modelling the log density ratio of
the conditional distributions (Sec. 3). As in the paper: hinge loss, spectral normalisation on every
D layer and on the embedding, class-conditional batch norm in G (no matching-aware term). The paper
used ResNets; ``model.arch=sngan`` gives the "standard CNN" of SNGAN (Miyato et al. 2018, arXiv
1802.05957, Table 3) and the preset uses DCGAN nets for the CPU budget (``configs/projection.yaml`` says
why); phi is the flattened last feature map of D's trunk. It is CGAN's module with these settings, so
``model.d_cond=concat`` or ``model.g_cond=concat`` give the comparisons.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ...config import _rng
from .. import GANS
from .cgan import CGAN, CGANParams


@dataclass
class ProjectionParams(CGANParams):
    """``model.*`` for the projection GAN: CGAN's with the paper's defaults."""

    arch: Literal["dcgan", "sngan", "mlp"] = "sngan"
    z_dim: int = field(default=128, metadata=_rng(1))
    g_cond: Literal["concat", "cbn"] = "cbn"
    d_cond: Literal["concat", "projection"] = "projection"
    d_sn: bool = True
    d_slope: float = field(default=0.1, metadata=_rng(0.0, 1.0))
    matching_aware: bool = False


class Projection(CGAN):
    """Miyato & Koyama 2018 (arXiv 1802.05637): projection D with SN, conditional BN in G, hinge loss."""

    Params = ProjectionParams
    default_objective = "hinge"


GANS.add("projection", Projection)
