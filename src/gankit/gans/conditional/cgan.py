"""CGAN, Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv 1411.1784.

G and D both receive the label y: G(z, y), D(x, y) (Sec. 3.2). Here the label's one-hot code (or a
learned embedding, ``model.label_dim``) is appended to z and, as constant feature maps, to the
image's channels (``model.d_cond=concat``; ``model.arch=mlp``: to the flattened image, the paper's setting); ``model.d_cond=projection`` uses the projection
discriminator instead (Miyato & Koyama 2018, arXiv 1802.05637; the ``projection`` GAN's default).

Matching-aware discriminator (Reed et al. 2016, "Generative Adversarial Text to Image Synthesis",
arXiv 1605.05396, Alg. 1, GAN-CLS), ``model.matching_aware`` (on by default): D also scores real
images paired with a wrong label as fake, so it must check that image and label match, not only
that the image looks real. With the run's objective (a D loss L(real scores, fake scores)),

    L_D = 1/2 [ L(D(x, y), D(G(z, y), y)) + L(D(x, y), D(x, y_wrong)) ],

which for the log loss is Reed et al.'s log D(x, y) + [log(1 - D(x, y_wrong)) + log(1 - D(G(z, y), y))] / 2.
y_wrong is drawn uniformly among the other K - 1 classes for each image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
from torch import Tensor

from ...nn import InputConditioned, ProjectionDiscriminator
from .. import GANS
from ..base import StepResult
from .base import ConditionalGAN, ConditionalParams


@dataclass
class CGANParams(ConditionalParams):
    """``model.*`` for CGAN."""

    d_cond: Literal["concat", "projection"] = "concat"  # label into D: input channels, or a projection term
    matching_aware: bool = True                          # real image + wrong label scored as fake (Reed 2016)


def wrong_labels(y: Tensor, num_classes: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """For each label, another class drawn uniformly from the other ``num_classes - 1``."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator, device="cpu" if generator else y.device)
    return (y + shift.to(y.device)) % num_classes


def matching_aware_d_loss(objective, d_real: Tensor, d_fake: Tensor, d_wrong: Tensor) -> Tensor:
    """Reed et al. 2016 (arXiv 1605.05396, Alg. 1): ``(L(real, fake) + L(real, mismatched)) / 2``."""
    return 0.5 * (objective.d_loss(d_real, d_fake) + objective.d_loss(d_real, d_wrong))


class CGAN(ConditionalGAN):
    """Mirza & Osindero 2014 (arXiv 1411.1784), with Reed et al. 2016's matching-aware D as an option."""

    Params = CGANParams

    def build_d(self, info, num_classes: int):
        p = self.p
        if p.d_cond == "projection":
            net = self.d_net(info.shape)
            return ProjectionDiscriminator(net, self.d_factory().embedding(num_classes, net.feature_dim))
        label, shape = self.label_input(info, num_classes)
        return InputConditioned(self.d_net(shape), label)

    def d_loss(self, real: Tensor, fake: Tensor, y: Tensor) -> StepResult:
        if not self.p.matching_aware:
            return super().d_loss(real, fake, y)
        d_real = self.D(real, y)
        loss = matching_aware_d_loss(self.objective, d_real, self.D(fake, y),
                                     self.D(real, wrong_labels(y, self.num_classes)))
        return loss, {"d_loss": loss.detach()}


GANS.add("cgan", CGAN)
