"""XGAN, Royer, Bousmalis, Gouws, Bertsch, Mosseri, Cole & Murphy 2017, "XGAN: Unsupervised Image-to-Image
Translation for Many-to-Many Mappings", arXiv 1711.05139.

A dual auto-encoder: encoders e_A, e_B whose last layers are shared map both domains into one embedding, and
decoders d_A, d_B whose first layers are shared map it back (Sec. 3, Fig. 2); translating A -> B is d_B(e_A(x)).
Four terms tie the two halves into one semantic space (Sec. 3.1; the paper also has an optional teacher loss,
not here):

    L_rec  = E |d_A(e_A(a)) - a|^2 + E |d_B(e_B(b)) - b|^2                          (each domain auto-encodes)
    L_dann = domain-adversarial loss on the embedding (after Ganin et al. 2016): a classifier c learns which
             domain an embedding came from; the encoders are trained to make it say the other domain
    L_sem  = E |e_B(d_B(e_A(a))) - e_A(a)| + E |e_A(d_A(e_B(b))) - e_B(b)|          (semantic consistency: the
             translation keeps the embedding -- a cycle in the embedding, not in pixels as in CycleGAN)
    L_gan  = a GAN per domain on the translations (D_B on d_B(e_A(a)), D_A on d_A(e_B(b)))

    L = w_rec L_rec + w_dann L_dann + w_sem L_sem + w_gan L_gan.

The nets are UNIT's shared-latent encoders and decoders (:class:`~gankit.gans.translation.unit.SharedLatentNets`;
the embedding is their spatial map, where the paper flattens to a vector), PatchGAN discriminators and a small
conv classifier on the embedding (in D's optimiser group and step). The GAN loss is least squares. The weights
(``model.rec_weight`` 10, ``sem_weight`` 10, ``dann_weight`` 1, ``adv_weight`` 2 against the lsgan's halved G term)
are gankit's choice for these small domains, not numbers from the paper.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import _rng
from ...nn import init_dcgan
from .. import GANS
from ..base import StepResult
from .unit import UNIT


@dataclass
class XGANParams:
    """``model.*`` of XGAN."""

    g_width: int = field(default=16, metadata=_rng(1))
    d_width: int = field(default=32, metadata=_rng(1))
    blocks: int = field(default=2, metadata=_rng(1))      # residual blocks per encoder (and decoder); the last shared
    d_layers: int = field(default=2, metadata=_rng(1))
    rec_weight: float = field(default=10.0, metadata=_rng(0.0))
    sem_weight: float = field(default=10.0, metadata=_rng(0.0))
    dann_weight: float = field(default=1.0, metadata=_rng(0.0))
    adv_weight: float = field(default=2.0, metadata=_rng(0.0))   # lsgan's 1/2 on G's term undone


class LatentDomainClassifier(nn.Module):
    """Which domain an embedding map came from: conv 3 x 3 stride 2, LeakyReLU, spatial mean, linear to a logit
    (positive: domain B)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, 2, 1)
        self.fc = nn.Linear(ch, 1)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc(F.leaky_relu(self.conv(z), 0.2).mean((2, 3))).squeeze(1)


def domain_bce(logits: Tensor, domain: int) -> Tensor:
    """Binary cross-entropy of the latent classifier against one domain (0: A, 1: B) for every row."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), float(domain)))


class XGAN(UNIT):
    """Royer et al. 2017 (arXiv 1711.05139): shared-weight encoders and decoders, reconstruction, a
    domain-adversarial embedding, semantic consistency of the embedding across translation, a GAN per domain.
    UNIT's nets, translation and step order; its own losses and the embedding's classifier."""

    Params = XGANParams
    no_penalties_why = "its discriminators are two (D_A, D_B) and a latent classifier; the paper uses none"

    def build(self, info):
        G, D = super().build(info)
        D["latent"] = LatentDomainClassifier(4 * self.p.g_width)
        init_dcgan(D["latent"])
        return G, D

    def d_step(self, real: Tensor, labels) -> StepResult:
        a, b = self.split(real)
        G, D = self.G, self.D
        with torch.no_grad():
            za, zb = G.encode(a, 0), G.encode(b, 1)
            ab, ba = G.decode(za, 1), G.decode(zb, 0)
        adv = self.objective.d_loss(D["a"](a), D["a"](ba)) + self.objective.d_loss(D["b"](b), D["b"](ab))
        la, lb = D["latent"](za), D["latent"](zb)
        latent = domain_bce(la, 0) + domain_bce(lb, 1)
        acc = ((la < 0).float().mean() + (lb > 0).float().mean()) / 2
        return adv + latent, {"d_loss": adv.detach(), "latent_ce": latent.detach(), "latent_acc": acc}

    def g_step(self, real: Tensor, labels) -> StepResult:
        p, G = self.p, self.G
        a, b = self.split(real)
        za, zb = G.encode(a, 0), G.encode(b, 1)
        rec = (G.decode(za, 0) - a).pow(2).mean() + (G.decode(zb, 1) - b).pow(2).mean()
        ab, ba = G.decode(za, 1), G.decode(zb, 0)
        adv = self.objective.g_loss(self.D["b"](ab)) + self.objective.g_loss(self.D["a"](ba))
        sem = (G.encode(ab, 1) - za).abs().mean() + (G.encode(ba, 0) - zb).abs().mean()
        dann = domain_bce(self.D["latent"](za), 1) + domain_bce(self.D["latent"](zb), 0)  # say the other domain
        loss = p.adv_weight * adv + p.rec_weight * rec + p.sem_weight * sem + p.dann_weight * dann
        return loss, {"g_loss": adv.detach(), "rec": rec.detach(), "sem": sem.detach(), "dann": dann.detach()}


GANS.add("xgan", XGAN)
