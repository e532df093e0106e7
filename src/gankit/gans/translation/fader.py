"""Fader networks, Lample, Zeghidour, Usunier, Bordes, Denoyer & Ranzato 2017, "Fader Networks: Manipulating
Images by Sliding Attributes", arXiv 1706.00409 -- the domain-adversarial latent.

An encoder E maps an image x to a latent map z = E(x); a decoder rebuilds the image from z and the attributes y,
D(z, y) (y enters every decoder layer as constant channels, each attribute as the pair (y, 1 - y), Sec. 4.1). A
latent discriminator P reads z and predicts y. P is trained to predict the true attributes; the encoder is trained
to make it predict the flipped ones, so that z keeps no trace of y and the decoder must take y from its input
(Sec. 3.2, Eq. 2 and 3):

    L_P = E -log P(y | E(x)),       L_AE = E ||D(E(x), y) - x||^2 + lambda_E E -log P(1 - y | E(x)),

lambda_E ramped linearly from 0 to its value over ``model.lambda_steps`` updates (the paper: 10^-4 over 500,000).
Changing y at decoding changes the attributes and keeps the rest ("swap the attribute at decoding").

Groups: ``g`` is the auto-encoder (E and the decoder), ``d`` the latent discriminator; each step P first, then
the auto-encoder. The attribute losses are a sigmoid cross-entropy per binary attribute (the paper's 2-way
softmax), summed over the attributes. Nets at 32 x 32: E of 4 x 4 stride-2 convs with batch norm and LeakyReLU
0.2, the decoder mirroring it with transposed convs and ReLU, P a conv and two dense layers with dropout 0.3
(Sec. 4.1). Adam(2e-3, beta1 0.5) as the paper's code. Data: ``mnist-attributes``; the picture, sampling and
metrics are StarGAN's (domain accuracy by the attribute classifier, class preservation, reconstruction).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import torch
from torch import Tensor, nn

from ...config import _rng
from .. import GANS
from ..base import CountsGeneratorSteps, StepResult
from .stargan import StarGAN, attribute_loss


@dataclass
class FaderParams:
    """``model.*`` of the Fader network."""

    width: int = field(default=32, metadata=_rng(1))        # the encoder's first layer; doubling per halving
    downs: int = field(default=3, metadata=_rng(1))         # halvings (32 -> 4 with 3)
    p_hidden: int = field(default=512, metadata=_rng(1))    # the latent discriminator's dense layer
    dropout: float = field(default=0.3, metadata=_rng(0.0, 1.0, hi_open=True))
    lambda_e: float = field(default=1e-4, metadata=_rng(0.0))  # the encoder's adversarial weight (final)
    lambda_steps: int = field(default=500000, metadata=_rng(0))  # updates over which it ramps up from 0


def attribute_maps(c: Tensor, like: Tensor) -> Tensor:
    """Each attribute as the two constant channels (c, 1 - c), the size of ``like``'s maps."""
    pair = torch.cat([c, 1 - c], 1).to(like.dtype)
    return pair[:, :, None, None].expand(-1, -1, like.shape[-2], like.shape[-1])


class FaderAutoencoder(nn.Module):
    """``forward(x, c)``: decode E(x) with the attributes c; :meth:`encode`, :meth:`decode` apart."""

    def __init__(self, channels: int, attributes: int, width: int, downs: int):
        super().__init__()
        enc: List[nn.Module] = []
        cin, widths = channels, [width * 2 ** i for i in range(downs)]
        for i, w in enumerate(widths):
            enc += [nn.Conv2d(cin, w, 4, 2, 1)] + ([nn.BatchNorm2d(w)] if i else []) + [nn.LeakyReLU(0.2)]
            cin = w
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.ModuleList()
        for i in reversed(range(downs)):
            cout = channels if i == 0 else widths[i - 1]
            tail = [nn.Tanh()] if i == 0 else [nn.BatchNorm2d(cout), nn.ReLU()]
            self.decoder.append(nn.Sequential(nn.ConvTranspose2d(widths[i] + 2 * attributes, cout, 4, 2, 1), *tail))
        self.latent_channels = widths[-1]

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, z: Tensor, c: Tensor) -> Tensor:
        h = z
        for layer in self.decoder:
            h = layer(torch.cat([h, attribute_maps(c, h)], 1))
        return h

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.decode(self.encode(x), c)


class LatentDiscriminator(nn.Module):
    """P(z): a 4 x 4 stride-2 conv, then dense ``hidden`` with dropout, then one logit per attribute."""

    def __init__(self, channels: int, side: int, attributes: int, hidden: int = 512, dropout: float = 0.3):
        super().__init__()
        s = max(1, side // 2)
        self.net = nn.Sequential(nn.Conv2d(channels, channels, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                 nn.Linear(channels * s * s, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
                                 nn.Linear(hidden, attributes))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class Fader(CountsGeneratorSteps, StarGAN):
    """Lample et al. 2017 (arXiv 1706.00409): an auto-encoder whose latent is adversarially freed of the attributes."""

    Params = FaderParams
    default_objective = "nonsaturating"
    objectives = None
    no_penalties_why = "its discriminator reads the latent code, and its paper uses no penalty"
    step_buffer = "ae_updates"

    def build(self, info):
        p, c, a = self.p, info.shape[0], len(info.attributes)
        G = FaderAutoencoder(c, a, p.width, p.downs)
        D = LatentDiscriminator(G.latent_channels, info.shape[-1] // 2 ** p.downs, a, p.p_hidden, p.dropout)
        self.init_step_count()  # auto-encoder updates (lambda_E's ramp), in the checkpoint
        return G, D

    def lambda_e(self) -> float:
        p = self.p
        return p.lambda_e * min(1.0, self._steps / p.lambda_steps) if p.lambda_steps else p.lambda_e

    def d_step(self, real: Tensor, labels) -> StepResult:
        _, c = self.split_labels(labels)
        with torch.no_grad():
            z = self.G.encode(real)
        loss = attribute_loss(self.D(z), c)
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels) -> StepResult:
        _, c = self.split_labels(labels)
        z = self.G.encode(real)
        rec = (self.G.decode(z, c) - real).pow(2).mean()
        fool = attribute_loss(self.D(z), 1 - c)
        loss = rec + self.lambda_e() * fool
        return loss, {"rec": rec.detach(), "g_loss": fool.detach()}


GANS.add("fader", Fader)
