"""AC-GAN, Odena, Olah & Shlens 2016, "Conditional Image Synthesis with Auxiliary Classifier GANs",
arXiv 1610.09585.

G(z, c) gets the class (here appended to z, ``model.g_cond=concat``, or through conditional batch
norm, ``cbn``); D does not see the label but has two heads on one trunk: the source head
P(S | x) and an auxiliary classifier P(C | x) (Sec. 3). With the log-likelihoods of the correct
source, L_S, and of the correct class, L_C, "D is trained to maximize L_S + L_C while G is trained
to maximize L_C - L_S": both nets maximise the class log-likelihood, D on real and generated images,
G on its own. Here L_S is the run's objective (non-saturating by default) and the class terms are
cross-entropies weighted by ``model.class_weight`` (1 in the paper):

    L_D = objective.d_loss + w [CE(C(x), y) + CE(C(G(z, y)), y)],   L_G = objective.g_loss + w CE(C(G(z, y)), y).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from ...config import _rng
from ...nn import AuxClassifierDiscriminator
from .. import GANS
from ..base import StepResult
from .base import ConditionalGAN, ConditionalParams


@dataclass
class ACGANParams(ConditionalParams):
    """``model.*`` for AC-GAN."""

    class_weight: float = field(default=1.0, metadata=_rng(0.0))  # weight of the class log-likelihood terms


def acgan_class_terms(cls_real: Optional[Tensor], y_real: Optional[Tensor], cls_fake: Tensor,
                      y_fake: Tensor) -> Tuple[Tensor, Tensor]:
    """``(D's term, G's term)``: the negative class log-likelihoods (mean cross-entropies) of the real
    images (D only; skipped when ``cls_real`` is None) and of the generated ones (both nets)."""
    fake = F.cross_entropy(cls_fake.float(), y_fake)
    real = F.cross_entropy(cls_real.float(), y_real) if cls_real is not None else fake.new_zeros(())
    return real + fake, fake


class ACGAN(ConditionalGAN):
    """Odena et al. 2016 (arXiv 1610.09585): D with a source head and an auxiliary class head."""

    Params = ACGANParams

    def build_d(self, info, num_classes: int):
        net = self.d_net(info.shape)
        return AuxClassifierDiscriminator(net, self.d_factory().linear(net.feature_dim, num_classes))

    def d_loss(self, real: Tensor, fake: Tensor, y: Tensor) -> StepResult:
        src_real, cls_real = self.D.outputs(real)
        src_fake, cls_fake = self.D.outputs(fake)
        adv = self.objective.d_loss(src_real, src_fake)
        cls, _ = acgan_class_terms(cls_real, y, cls_fake, y)
        loss = adv + self.p.class_weight * cls
        return loss, {"d_loss": adv.detach(), "d_class": cls.detach()}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        y = self.labels_of(labels)
        src_fake, cls_fake = self.D.outputs(self.generate(real.shape[0], y))
        d_real = self.D(real) if self.objective.g_needs_real else None
        adv = self.objective.g_loss(src_fake, d_real)
        _, cls = acgan_class_terms(None, None, cls_fake, y)
        return adv + self.p.class_weight * cls, {"g_loss": adv.detach(), "g_class": cls.detach()}


GANS.add("acgan", ACGAN)
