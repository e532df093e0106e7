"""CoGAN, Liu & Tuzel 2016, "Coupled Generative Adversarial Networks", arXiv 1606.07536.

Two GANs, one per domain, learn the joint distribution of two domains from unpaired images by sharing weights: the
generators share their first layers (which decode the high-level semantics) and differ only in the last, and the
discriminators share their last layers and differ only in the first (Sec. 3, Fig. 1). From one z the two
generators then draw a *corresponding* pair: the same digit as it looks in each domain, although no pair was ever
shown.

Here the shared generator trunk is DCGAN-style (a linear layer to 4w x 4 x 4, then transposed 4 x 4 stride-2 convs
with batch norm and ReLU to w x s/2 x s/2) and each domain's head is the last transposed conv to its image; each
discriminator's first conv (4 x 4 stride 2, LeakyReLU) is its own and the rest (two strided convs with batch norm
and a 4 x 4 conv to one logit) is shared. Shared layers are one module used by both paths, so they are the same
tensors in both GANs and are updated once by the ``g`` (or ``d``) group. The loss is the sum of the two GANs'
(non-saturating), each step on a batch of each domain (unpaired) and one z for both generators. Adam(2e-4, beta1
0.5) as the paper's Appendix.

Data: the unpaired sets of :mod:`gankit.data.domains` (``mnist2edges``, ``mnist2inverted``, the paper's MNIST
pairs). Measured: how well pairs from one z correspond (:func:`gankit.metrics.translation.pair_metrics`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError, GankitError
from ...nn import init_dcgan
from .. import GANS
from ..base import StepResult
from .base import Translator, to_rgb


@dataclass
class CoGANParams:
    """``model.*`` of CoGAN."""

    z_dim: int = field(default=100, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))


class CoupledGenerator(nn.Module):
    """``forward(z) -> (x_A, x_B)``: the shared trunk, then each domain's head."""

    def __init__(self, z_dim: int, side: int, channels, width: int):
        super().__init__()
        ups = int(math.log2(side // 4))
        if 4 * 2 ** ups != side or ups < 2:
            raise ConfigError(f"config: CoGAN's generators need a side of 4 x 2^k (k >= 2), got {side}")
        w = width * 2 ** (ups - 1)
        layers = [nn.Linear(z_dim, w * 16), nn.Unflatten(1, (w, 4, 4)), nn.BatchNorm2d(w), nn.ReLU()]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU()]
            w //= 2
        self.shared = nn.Sequential(*layers)
        self.heads = nn.ModuleList([nn.Sequential(nn.ConvTranspose2d(w, c, 4, 2, 1), nn.Tanh()) for c in channels])

    def forward(self, z: Tensor):
        h = self.shared(z)
        return tuple(head(h) for head in self.heads)


class CoupledDiscriminator(nn.Module):
    """``forward(x, domain) -> logits (N,)``: the domain's first conv, then the shared layers."""

    def __init__(self, side: int, channels, width: int):
        super().__init__()
        self.heads = nn.ModuleList([nn.Sequential(nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2)) for c in channels])
        layers, w, s = [], width, side // 2
        while s > 4:
            layers += [nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2)]
            w, s = 2 * w, s // 2
        layers += [nn.Conv2d(w, 1, 4), nn.Flatten()]
        self.shared = nn.Sequential(*layers)

    def forward(self, x: Tensor, domain: int) -> Tensor:
        return self.shared(self.heads[domain](x)).squeeze(1)


class CoGAN(Translator):
    """Liu & Tuzel 2016 (arXiv 1606.07536): two GANs sharing G's first and D's last layers."""

    Params = CoGANParams
    translates = False
    directions = ()

    @property
    def z_dim(self) -> int:
        return self.p.z_dim

    def build(self, info):
        p, side = self.p, info.shape[-1]
        channels = self.domain_channels
        G = CoupledGenerator(p.z_dim, side, channels, p.g_width)
        D = CoupledDiscriminator(side, channels, p.d_width)
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    def d_step(self, real: Tensor, labels) -> StepResult:
        a, b = self.split(real)
        with torch.no_grad():
            fa, fb = self.G(self.sample_z(a.shape[0]))
        loss_a = self.objective.d_loss(self.D(a, 0), self.D(fa, 0))
        loss_b = self.objective.d_loss(self.D(b, 1), self.D(fb, 1))
        loss = loss_a + loss_b
        return loss, {"d_loss": loss.detach(), "d_loss_a": loss_a.detach(), "d_loss_b": loss_b.detach()}

    def g_step(self, real: Tensor, labels) -> StepResult:
        fa, fb = self.G(self.sample_z(real.shape[0]))
        loss_a, loss_b = self.objective.g_loss(self.D(fa, 0)), self.objective.g_loss(self.D(fb, 1))
        loss = loss_a + loss_b
        return loss, {"g_loss": loss.detach(), "g_loss_a": loss_a.detach(), "g_loss_b": loss_b.detach()}

    # ------------------------------------------------------------ sampling
    @torch.no_grad()
    def pairs(self, n: int, seed: int = 0, ema: bool = True):
        """``(x_A, x_B)``: ``n`` pairs, each from one z (seeded)."""
        z, _ = self.seeded_latent(n, seed)
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        was = G.training
        G.eval()
        try:
            parts = [G(z[i:i + 1000]) for i in range(0, n, 1000)]
        finally:
            G.train(was)
        return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """``n`` pairs from one z each, side by side: ``(n, C, H, 2W)`` (A left, B right); no labels."""
        if labels is not None or truncation is not None:
            raise GankitError("CoGAN draws pairs from noise; it takes no labels or truncation")
        a, b = self.pairs(n, seed, ema)
        if a.shape[1] != b.shape[1]:
            a, b = to_rgb(a), to_rgb(b)
        return torch.cat([a, b], -1), None

    def sample_grid(self, n: int, seed: int = 0):
        """Rows of 8: domain A's images, then domain B's from the same z."""
        a, b = self.pairs(max(8, (n // 16) * 8), seed)
        rows = []
        for i in range(0, len(a), 8):
            rows += [to_rgb(a[i:i + 8]), to_rgb(b[i:i + 8])]
        return torch.cat(rows), 8

    def translate(self, *args, **kwargs):
        raise GankitError("CoGAN draws corresponding pairs from noise; it does not translate given images")

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        from ...metrics.translation import pair_metrics

        return pair_metrics(self, n=n, seed=seed, split=split, root=root)


GANS.add("cogan", CoGAN)
