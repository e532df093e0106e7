"""UNIT, Liu, Breuel & Kautz 2017, "Unsupervised Image-to-Image Translation Networks", arXiv 1703.00848.

The shared-latent-space assumption: a pair of corresponding images maps to one code z. Each domain has a VAE
(encoder E_1, decoder G_1; E_2, G_2) and a GAN (G_i against D_i); the encoders share their last layers and the
decoders their first, which ties the two latent spaces into one (Sec. 2, Fig. 1). Translating A -> B is
G_2(E_1(x)). The losses (Eq. 2-6), with q(z | x) = N(E(x), I) (so the KL term is ||E(x)||^2 / 2):

    VAE_i:   lambda_1 KL(q_i(z | x_i) || N(0, I)) + lambda_2 ||G_i(z_i) - x_i||_1
    GAN_i:   lambda_0 [log D_i(x_i) + log(1 - D_i(G_i(z_j)))]        (the translations from the other domain)
    CC_i:    lambda_3 KL(q_i(z | x_i)) + lambda_3 KL(q_j(z | G_j(z_i))) + lambda_4 ||G_i(E_j(G_j(z_i))) - x_i||_1

with the paper's weights lambda_0 = 10, lambda_1 = lambda_3 = 0.1, lambda_2 = lambda_4 = 100 (Sec. 2). Here the
weights are relative to a GAN term of 1 (the same ratios): ``model.kl_weight`` 0.01, ``model.recon_weight`` 10,
``model.cycle_weight`` 10, as in the authors' code's MNIST-scale configs. Nets: each encoder c7s1-w, two
stride-2 convs, ``blocks`` residual blocks of which the last is shared; each decoder the mirror (its first residual
block shared), transposed convs, c7s1 and tanh; instance norm; PatchGAN discriminators. The GAN loss is the
least-squares one (the authors' code's default), Adam(1e-4, beta1 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...models.translation import PatchDiscriminator, ResidualBlock, resnet_decoder_layers, resnet_encoder_layers
from ...nn import LayerFactory, init_dcgan
from .. import GANS
from ..base import Phase, StepResult
from .base import Translator


@dataclass
class UNITParams:
    """``model.*`` of UNIT."""

    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))
    blocks: int = field(default=3, metadata=_rng(1))   # residual blocks per encoder (and decoder); the last shared
    d_layers: int = field(default=2, metadata=_rng(1))
    kl_weight: float = field(default=0.01, metadata=_rng(0.0))
    recon_weight: float = field(default=10.0, metadata=_rng(0.0))
    cycle_weight: float = field(default=10.0, metadata=_rng(0.0))
    adv_weight: float = field(default=2.0, metadata=_rng(0.0, lo_open=True))  # lsgan's 1/2 on G's term undone


class SharedLatentNets(nn.Module):
    """Both domains' encoders and decoders; ``shared_enc`` / ``shared_dec`` are one module each, used by both."""

    def __init__(self, channels, width: int, blocks: int):
        super().__init__()
        f = LayerFactory(norm="instance")
        w = 4 * width
        encoder = lambda c: nn.Sequential(*resnet_encoder_layers(c, width, blocks - 1, f))
        decoder = lambda c: nn.Sequential(*resnet_decoder_layers(c, width, blocks - 1, f))
        self.enc = nn.ModuleList([encoder(c) for c in channels])
        self.dec = nn.ModuleList([decoder(c) for c in channels])
        self.shared_enc = ResidualBlock(w, f)
        self.shared_dec = ResidualBlock(w, f)

    def encode(self, x: Tensor, domain: int) -> Tensor:
        """The mean of q(z | x)."""
        return self.shared_enc(self.enc[domain](x))

    def decode(self, z: Tensor, domain: int) -> Tensor:
        return self.dec[domain](self.shared_dec(z))


class Direction(nn.Module):
    """One translation of the shared-latent nets as a module (what the translator's helpers call)."""

    def __init__(self, nets: SharedLatentNets, src: int):
        super().__init__()
        self.nets, self.src = nets, src
        self.training = nets.training  # the wrapper's mode is the nets' (translate restores it afterwards)

    def forward(self, x: Tensor) -> Tensor:
        return self.nets.decode(self.nets.encode(x, self.src), 1 - self.src)


def kl_unit_gaussian(mu: Tensor) -> Tensor:
    """KL(N(mu, I) || N(0, I)) per sample, averaged: ||mu||^2 / 2 over the code's entries (mean per entry)."""
    return mu.pow(2).mean() / 2


class UNIT(Translator):
    """Liu et al. 2017 (arXiv 1703.00848): per-domain VAEs sharing their latent layers, a GAN per domain, cycles."""

    Params = UNITParams
    default_objective = "lsgan"
    directions = ("ab", "ba")
    no_penalties_why = "its discriminators are two (D_A, D_B); the paper uses none"

    def build(self, info):
        p, (ca, cb) = self.p, self.domain_channels
        if info.shape[-1] % 4:
            raise ConfigError(f"config: UNIT halves the image twice; its side must be a multiple of 4, got {info.shape[-1]}")
        G = SharedLatentNets((ca, cb), p.g_width, p.blocks)
        D = nn.ModuleDict({"a": PatchDiscriminator(ca, p.d_width, p.d_layers, "none"),
                           "b": PatchDiscriminator(cb, p.d_width, p.d_layers, "none")})
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    def generator(self, direction: str, ema: bool = True) -> nn.Module:
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        return Direction(G, 0 if direction == "ab" else 1)

    def phases(self) -> List[Phase]:
        return [Phase("d", self.d_step, self.cfg.train.n_critic), Phase("g", self.g_step)]

    def d_step(self, real: Tensor, labels) -> StepResult:
        a, b = self.split(real)
        with torch.no_grad():
            za, zb = self.G.encode(a, 0), self.G.encode(b, 1)
            ab = self.G.decode(za + torch.randn_like(za), 1)
            ba = self.G.decode(zb + torch.randn_like(zb), 0)
        loss_a = self.objective.d_loss(self.D["a"](a), self.D["a"](ba))
        loss_b = self.objective.d_loss(self.D["b"](b), self.D["b"](ab))
        loss = loss_a + loss_b
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels) -> StepResult:
        p, G = self.p, self.G
        a, b = self.split(real)
        mu_a, mu_b = G.encode(a, 0), G.encode(b, 1)
        za, zb = mu_a + torch.randn_like(mu_a), mu_b + torch.randn_like(mu_b)  # q(z | x) = N(E(x), I)
        rec = (G.decode(za, 0) - a).abs().mean() + (G.decode(zb, 1) - b).abs().mean()
        ab, ba = G.decode(za, 1), G.decode(zb, 0)
        adv = self.objective.g_loss(self.D["b"](ab)) + self.objective.g_loss(self.D["a"](ba))
        mu_aba, mu_bab = G.encode(ab, 1), G.encode(ba, 0)
        aba = G.decode(mu_aba + torch.randn_like(mu_aba), 0)
        bab = G.decode(mu_bab + torch.randn_like(mu_bab), 1)
        cycle = (aba - a).abs().mean() + (bab - b).abs().mean()
        kl = kl_unit_gaussian(mu_a) + kl_unit_gaussian(mu_b)
        kl_cycle = kl_unit_gaussian(mu_aba) + kl_unit_gaussian(mu_bab)
        loss = (p.adv_weight * adv + p.recon_weight * rec + p.cycle_weight * cycle
                + p.kl_weight * (kl + kl_cycle))
        return loss, {"g_loss": adv.detach(), "rec": rec.detach(), "cycle": cycle.detach(), "kl": kl.detach()}


GANS.add("unit", UNIT)
