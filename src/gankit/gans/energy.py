"""Energy-based GANs: the discriminator is an auto-encoder whose reconstruction error is an energy.

``ebgan`` — Zhao, Mathieu & LeCun 2016, arXiv 1609.03126. D's energy is the per-sample mean squared
reconstruction error; D minimises E D(x) + E max(0, m − D(G(z))) and G minimises
E D(G(z)) + λ_PT · PT(codes of G's batch). G is the DCGAN generator for images.

``began`` — Berthelot, Schumm & Metz 2017, arXiv 1703.10717. D's L is the per-sample mean absolute
reconstruction error; D minimises L(x) − k_t L(G(z)), G minimises L(G(z)), and after every D update
k_t moves by λ_k (γ L(x) − L(G(z))), clipped to [0, 1]. k_t is a buffer (checkpointed, restored on
resume) updated with tensor operations only. G has the architecture of D's decoder (ELU, no batch
norm), with tanh on its output.

Both run on 2-D points with MLP nets (``model.arch=mlp``, chosen automatically for ring8/grid25).
The losses are the pure functions of :mod:`gankit.objectives.energy`; presets ``configs/ebgan.yaml``
and ``configs/began.yaml`` hold the papers' settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
from torch import Tensor, nn

from ..config import _rng
from ..errors import ConfigError
from ..models import DCGANGenerator, MLPGenerator
from ..models.autoencoder import ConvAutoEncoder, ConvDecoder, Energy, MLPAutoEncoder, MLPDecoder
from ..nn import LayerFactory, init_dcgan
from ..objectives import Objective
from ..objectives.energy import (EBGAN_MARGIN, began_convergence, began_d_loss, began_g_loss, began_k_update,
                                 ebgan_g_loss, make_ebgan, pulling_away_term)
from . import GANS
from .base import GAN, StepResult


class EnergyGAN(GAN):
    """Shared parts: an auto-encoder energy D, the architecture choice, and the objective check."""

    energy_d = True

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        if cfg.objective not in (None, cls.default_objective):
            raise ConfigError(f"config: GAN '{cfg.gan}' has its own energy loss; objective must be "
                              f"'{cls.default_objective}' (or unset), got '{cfg.objective}'")

    def arch(self, info) -> str:
        return self.pick_arch(info, "cnn")

    def d_score(self, x: Tensor) -> Tensor:
        """Minus the energy: low reconstruction error is what D judges real."""
        return -self.D(x).reshape(x.shape[0], -1).mean(1)

    def autoencoder(self, info, arch: str, factory: LayerFactory, act=None) -> nn.Module:
        p = self.p
        if arch == "mlp":
            return MLPAutoEncoder(info.shape, p.hidden, p.d_depth, p.code_dim, factory, act)
        return ConvAutoEncoder(info.shape, p.d_width, p.code_dim, factory, act)


# ------------------------------------------------------------------------------------- EBGAN
@dataclass
class EBGANParams:
    """``model.*`` for EBGAN."""

    arch: Literal["auto", "mlp", "cnn"] = "auto"          # auto: mlp for 2-D points, conv for images
    z_dim: int = field(default=100, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))      # DCGAN generator base channels
    d_width: int = field(default=64, metadata=_rng(1))      # auto-encoder base channels
    code_dim: int = field(default=64, metadata=_rng(1))     # encoder code size (PT acts on it)
    hidden: int = field(default=256, metadata=_rng(1))      # MLP width
    g_depth: int = field(default=3, metadata=_rng(1))       # MLP hidden layers
    d_depth: int = field(default=3, metadata=_rng(1))       # MLP hidden layers on each side of the code
    d_norm: Literal["batch", "none"] = "batch"              # normalisation inside the conv auto-encoder
    margin: float = field(default=EBGAN_MARGIN, metadata=_rng(0.0, lo_open=True))
    pt_weight: float = field(default=0.1, metadata=_rng(0.0))  # lambda_PT; 0 turns the pulling-away term off


class EBGAN(EnergyGAN):
    """Zhao et al. 2016 (arXiv 1609.03126): auto-encoder D with MSE energy, margin loss, pulling-away
    term (lambda_PT 0.1) on G's codes."""

    Params = EBGANParams
    default_objective = "ebgan"

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        d_loss, g_loss = make_ebgan(self.p.margin)
        self.objective = Objective("ebgan", d_loss, g_loss, doc=d_loss.__doc__)  # the base d_step uses it

    def build(self, info):
        p, arch = self.p, self.arch(info)
        if arch == "mlp":
            G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(act="relu"),
                             tanh=info.kind == "images")
            return G, Energy(self.autoencoder(info, arch, LayerFactory(act="lrelu")), "l2")
        G = DCGANGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(norm="batch", act="relu"))
        D = Energy(self.autoencoder(info, arch, LayerFactory(norm=p.d_norm, act="lrelu")), "l2")
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        e_fake, codes = self.D.energy_and_code(self.G(self.sample_z(real.shape[0])))
        loss = ebgan_g_loss(e_fake)
        logs = {"g_loss": loss.detach()}
        if self.p.pt_weight > 0:
            pt = pulling_away_term(codes)
            loss = loss + self.p.pt_weight * pt
            logs["pt"] = pt.detach()
        return loss, logs


# ------------------------------------------------------------------------------------- BEGAN
@dataclass
class BEGANParams:
    """``model.*`` for BEGAN."""

    arch: Literal["auto", "mlp", "cnn"] = "auto"
    z_dim: int = field(default=64, metadata=_rng(1))        # N_z (the paper uses N_z = N_h)
    g_width: int = field(default=64, metadata=_rng(1))      # decoder-like G base channels
    d_width: int = field(default=64, metadata=_rng(1))      # auto-encoder base channels
    code_dim: int = field(default=64, metadata=_rng(1))     # N_h, the embedding size
    hidden: int = field(default=256, metadata=_rng(1))
    g_depth: int = field(default=3, metadata=_rng(1))
    d_depth: int = field(default=3, metadata=_rng(1))
    gamma: float = field(default=0.5, metadata=_rng(0.0, 1.0, lo_open=True))     # diversity ratio (paper: 0.3-0.7)
    lambda_k: float = field(default=0.001, metadata=_rng(0.0))                   # proportional gain for k_t
    k_init: float = field(default=0.0, metadata=_rng(0.0, 1.0))                  # k_0
    g_norm: Literal["none", "batch"] = "none"   # normalisation in G's hidden layers (the paper: none)


class BEGAN(EnergyGAN):
    """Berthelot et al. 2017 (arXiv 1703.10717): auto-encoder D with L1 loss, equilibrium control
    k_t (the paper's gamma 0.5, lambda_k 0.001; the image preset uses 1.0 and 0.05, see
    configs/began.yaml), convergence measure M; ELU, no batch norm (``model.g_norm=batch`` adds it to G),
    z ~ U[-1, 1]."""

    Params = BEGANParams
    default_objective = "began"

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        self.register_buffer("k", torch.tensor(float(self.p.k_init)))
        self._l_real: Optional[Tensor] = None
        self._l_fake: Optional[Tensor] = None

    def build(self, info):
        p, arch = self.p, self.arch(info)
        elu, images = nn.ELU, info.kind == "images"
        if arch == "mlp":
            G = MLPDecoder(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(), act=elu, tanh=images)
        else:
            G = ConvDecoder(p.z_dim, info.shape, p.g_width, LayerFactory(norm=p.g_norm), act=elu, tanh=True)
        return G, Energy(self.autoencoder(info, arch, LayerFactory(), act=elu), "l1")

    def latent_is_gaussian(self) -> bool:
        return False

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """z ~ U[-1, 1]^{N_z}, as in the paper."""
        if generator is not None:
            return (torch.rand(n, self.z_dim, generator=generator) * 2 - 1).to(self.device)
        return torch.rand(n, self.z_dim, device=self.device) * 2 - 1

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        with torch.no_grad():
            fake = self.G(self.sample_z(real.shape[0]))
        l_real, l_fake = self.D(real).mean(), self.D(fake).mean()
        loss = began_d_loss(l_real, l_fake, self.k)
        self._l_real, self._l_fake = l_real.detach().float(), l_fake.detach().float()
        logs = {"d_loss": loss.detach(), "l_real": self._l_real, "l_fake": self._l_fake, "k": self.k.clone(),
                "M": began_convergence(self._l_real, self._l_fake, self.p.gamma)}
        return self.add_penalties(loss, logs, real, fake)  # penalties act on the energy D(v)

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        loss = began_g_loss(self.D(self.G(self.sample_z(real.shape[0]))))
        return loss, {"g_loss": loss.detach()}

    @torch.no_grad()
    def after_step(self, group: str) -> None:
        """k_{t+1} from the L values of the D update that just ran (tensor ops, no host sync)."""
        if group == "d" and self._l_real is not None:
            self.k.copy_(began_k_update(self.k, self._l_real, self._l_fake, self.p.gamma, self.p.lambda_k))
            self._l_real = self._l_fake = None


GANS.add("ebgan", EBGAN)
GANS.add("began", BEGAN)
