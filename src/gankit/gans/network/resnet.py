"""The ResNet GANs of the network family, one module with the papers' differences as settings:

* ``sngan-resnet`` -- Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks",
  arXiv 1802.05957 (Sec. 4, Appendix B.4): the ResNets of :mod:`gankit.models.resnet`, SN in D, hinge loss,
  n_dis 5, Adam(2e-4, (0, 0.9)).
* ``sagan`` -- Zhang, Goodfellow, Metaxas & Odena 2018, "Self-Attention Generative Adversarial Networks",
  arXiv 1805.08318: a :class:`~gankit.nn.attention.SelfAttention` block in G and D at ``model.attention``,
  SN in G as well as D (Sec. 4.1), hinge loss, the two-timescale rule (D 4e-4, G 1e-4, Adam betas (0, 0.9)),
  one D step per G step (Sec. 4.2, 5).
* ``ssgan`` -- Chen et al. 2019, "Self-Supervised GANs via Auxiliary Rotation Loss", arXiv 1811.11212: a
  rotation head on D (:mod:`gankit.nn.rotation`), D learns the rotations of real images (weight
  ``model.rotation_d``, paper 1), G is rewarded for recognisable rotations of its fakes (``model.rotation_g``,
  paper 0.2). Both weights 0 give the base GAN.

The steps are the base class's (objective + penalties) plus the rotation terms when they are on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...config import _rng
from ...models.resnet import ResNetDiscriminator, ResNetGenerator
from ...nn import LayerFactory, init_weights
from ...nn.rotation import RotationHead, add_rotation_term
from .. import GANS
from ..base import GAN, StepResult


@dataclass
class ResNetParams:
    """``model.*`` for the ResNet GANs."""

    z_dim: int = field(default=128, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))   # channels of G's blocks (SNGAN CIFAR: 256)
    d_width: int = field(default=64, metadata=_rng(1))   # channels of D's blocks (SNGAN CIFAR: 128)
    widen: bool = False                                  # channel pyramid instead of constant width
    attention: int = field(default=0, metadata=_rng(0))  # feature-map size of the self-attention block (0: none)
    g_sn: bool = False                                   # SN on G's layers (SAGAN, BigGAN)
    d_sn: bool = True                                    # SN on D's layers
    rotation_d: float = field(default=0.0, metadata=_rng(0.0))  # SS-GAN: D's rotation loss weight (beta)
    rotation_g: float = field(default=0.0, metadata=_rng(0.0))  # SS-GAN: G's rotation loss weight (alpha)


class ResNetGAN(GAN):
    """ResNet G and D (SNGAN / WGAN-GP), with self-attention and rotation prediction as settings."""

    Params = ResNetParams
    needs_images = True
    default_objective = "hinge"

    def build(self, info):
        p = self.p
        G = ResNetGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(sn=p.g_sn, norm="batch", act="relu"),
                            attention=p.attention, widen=p.widen)
        d_factory = LayerFactory(sn=p.d_sn, act="relu")
        D = ResNetDiscriminator(info.shape, p.d_width, d_factory, attention=p.attention, widen=p.widen)
        self.rotation = RotationHead(D.feature_dim, d_factory) if (p.rotation_d or p.rotation_g) else None
        for net in (G, D) + ((self.rotation,) if self.rotation is not None else ()):
            init_weights(net, "xavier")  # the SNGAN ResNets' Glorot-uniform init
        return G, D

    def optim_groups(self):
        groups = super().optim_groups()
        if self.rotation is not None:  # the rotation head is part of D (Q_D shares D's trunk)
            groups["d"] = groups["d"] + list(self.rotation.parameters())
        return groups

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        loss, logs = super().d_step(real, labels)
        if self.rotation is not None:
            loss = add_rotation_term(loss, logs, self.D, self.rotation, real, self.p.rotation_d, "d")
        return loss, logs

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        fake = self.G(self.sample_z(real.shape[0]))
        d_real = self.D(real) if self.objective.g_needs_real else None
        loss = self.objective.g_loss(self.D(fake), d_real)
        logs = {"g_loss": loss.detach()}
        if self.rotation is not None:
            loss = add_rotation_term(loss, logs, self.D, self.rotation, fake, self.p.rotation_g, "g")
        return loss, logs


    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def attention_maps(self, n: int = 4, queries=((0.25, 0.25), (0.5, 0.5), (0.75, 0.6)), seed: int = 0) -> Tensor:
        """For ``n`` samples of the (EMA) G and each query point (row, column as fractions of the image), the
        attention distribution of G's self-attention block over positions, upsampled to the image size and scaled
        to [-1, 1]: rows of ``[sample with the query points marked, one map per query]`` (Zhang et al. 2018, Fig. 1
        and 5). Raises ValueError when G has no attention block."""
        from ...nn.attention import SelfAttention

        G = self.G_ema if self.G_ema is not None else self.G
        blocks = [m for m in G.modules() if isinstance(m, SelfAttention)]
        if not blocks:
            raise ValueError(f"GAN '{self.cfg.gan}' has no self-attention block in G (model.attention=0)")
        att = blocks[0]
        att.keep_map = True
        try:
            x = self.sample(n, seed=seed)
            beta = att.last_attention  # (n, N, N) from that forward pass
        finally:
            att.keep_map, att.last_attention = False, None
        side = int(round(beta.shape[-1] ** 0.5))
        res = x.shape[-1]
        rows = []
        for i in range(n):
            marked, maps = x[i].clone(), []
            for qr, qc in queries:
                r, c = min(side - 1, int(qr * side)), min(side - 1, int(qc * side))
                m = beta[i, r * side + c].view(1, 1, side, side).float()
                m = F.interpolate(m, size=(res, res), mode="nearest")[0]
                maps.append((m / m.max().clamp_min(1e-12)) * 2 - 1)
                s = res // side
                marked[:, r * s:(r + 1) * s, c * s:(c + 1) * s] = 1.0
            rows += [marked] + [m.expand_as(marked) for m in maps]
        return torch.stack(rows)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``attention``: G's attention maps for three query points of four samples (SAGAN), when G has attention."""
        if not self.p.attention:
            return {}
        return {"attention": (self.attention_maps(seed=seed), 4)}


@dataclass
class SAGANParams(ResNetParams):
    """SAGAN's defaults: attention on the 16 x 16 maps (of 32 x 32 images), SN in G too."""

    attention: int = field(default=16, metadata=_rng(0))
    g_sn: bool = True


@dataclass
class SSGANParams(ResNetParams):
    """SS-GAN's defaults: the rotation loss weights of the paper (beta 1 for D, alpha 0.2 for G)."""

    rotation_d: float = field(default=1.0, metadata=_rng(0.0))
    rotation_g: float = field(default=0.2, metadata=_rng(0.0))


class SNGANResNet(ResNetGAN):
    """Miyato et al. 2018 (arXiv 1802.05957): ResNet G and D, SN in D, hinge, n_dis 5, Adam(2e-4, (0, 0.9))."""


class SAGAN(ResNetGAN):
    """Zhang et al. 2018 (arXiv 1805.08318): self-attention in G and D, SN in both, hinge, TTUR."""

    Params = SAGANParams


class SSGAN(ResNetGAN):
    """Chen et al. 2019 (arXiv 1811.11212): rotation prediction on D's features (weights 1 and 0.2)."""

    Params = SSGANParams
    default_objective = "nonsaturating"


GANS.add("sngan-resnet", SNGANResNet)
GANS.add("sagan", SAGAN)
GANS.add("ssgan", SSGAN)
