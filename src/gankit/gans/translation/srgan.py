"""SRGAN and SRResNet, Ledig et al. 2016, "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", arXiv 1609.04802.

G (:class:`gankit.models.superres.SRResNet`: residual blocks, two x2 pixel-shuffle upsamplers) maps a x4
downsampled image to a full-size one; D (:class:`~gankit.models.superres.SRDiscriminator`, VGG-style) tells
originals from super-resolved images. G minimises the perceptual loss (Eq. 3)

    l_SR = l_content + 10^-3 l_Gen,    l_Gen = -log D(G(I_LR))  (the non-saturating loss),

with the content loss a squared distance of feature maps of a fixed network (Eq. 5: VGG19's phi_5,4 / 12.75), or
of pixels (Eq. 4, "SRResNet-MSE"). gankit has no VGG weights offline: ``model.content=features`` uses the reference
classifier's conv features (:class:`gankit.nn.perceptual.ClassifierFeatures`; MNIST's for photographs), and
``model.content=vgg`` with ``model.vgg_weights=FILE`` the paper's VGG loss.

The paper initialises SRGAN's G with a trained SRResNet (Sec. 3.2). Here ``model.pretrain_steps`` first G
updates use the content loss alone (the adversarial weight is 0 until then, counted in a checkpointed buffer); D
trains from the start.

``srresnet`` is the same G trained on the pixel MSE alone (the paper's SRResNet-MSE baseline), without D.
The data are the super-resolution sets of :mod:`gankit.data.domains` (``lowres2mnist``, ``lowres2fashion``,
``lowres2photos``): domain A holds the x4 downsampled images (stored at full size), B the originals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Literal, Optional

import torch
from torch import Tensor, nn

from ...config import Config, _rng
from ...data.domains import SR_FACTOR, SR_SETS, TRANSLATION_SETS, low_of
from ...errors import ConfigError
from ...models.superres import SRDiscriminator, SRResNet
from .. import GANS
from ..base import CountsGeneratorSteps, Phase, StepResult
from .base import Translator


@dataclass
class SRGANParams:
    """``model.*`` of SRGAN."""

    g_width: int = field(default=64, metadata=_rng(1))
    blocks: int = field(default=16, metadata=_rng(0))
    d_width: int = field(default=64, metadata=_rng(1))
    d_stages: int = field(default=4, metadata=_rng(1))
    d_hidden: int = field(default=1024, metadata=_rng(1))
    content: Literal["features", "mse", "vgg"] = "features"
    vgg_weights: Optional[str] = None
    adv_weight: float = field(default=1e-3, metadata=_rng(0.0))
    pretrain_steps: int = field(default=0, metadata=_rng(0))


class SuperResolver(nn.Module):
    """G as a translator: takes the stored low-resolution image (full size, repeated pixels) or the small image
    itself, and returns the x``factor`` image."""

    def __init__(self, net: nn.Module, side: int, factor: int = SR_FACTOR):
        super().__init__()
        self.net, self.side, self.factor = net, side, factor

    def forward(self, x: Tensor) -> Tensor:
        return self.net(low_of(x, self.factor) if x.shape[-1] == self.side else x)


class SRGAN(CountsGeneratorSteps, Translator):
    """Ledig et al. 2016 (arXiv 1609.04802): SRResNet G, VGG-style D, content loss + 1e-3 adversarial."""

    Params = SRGANParams
    needs_pairs = True
    directions = ("ab",)
    objectives = ("nonsaturating",)
    objectives_why = "uses SRGAN's -log D(G(x)) generator loss"
    no_penalties_why = "SRGAN's D is trained with the plain GAN loss"
    step_buffer = "g_updates"

    @classmethod
    def validate(cls, cfg: Config) -> None:
        if cfg.data.name in TRANSLATION_SETS and cfg.data.name not in SR_SETS:
            raise ConfigError(f"config: GAN '{cfg.gan}' super-resolves images; data.name must be a super-resolution "
                              f"set ({', '.join(SR_SETS)}), got '{cfg.data.name}'")
        super().validate(cfg)
        model = cfg.model if isinstance(cfg.model, dict) else {}
        if model.get("content") == "vgg" and not model.get("vgg_weights"):
            raise ConfigError("config: model.content=vgg needs model.vgg_weights=FILE (torchvision's VGG19 weights, "
                              "vgg19-dcbb9e9d.pth); gankit downloads nothing. Use model.content=features offline")

    def build(self, info):
        p, c, side = self.p, self.domain_channels[1], info.shape[-1]
        G = SuperResolver(SRResNet(c, p.g_width, p.blocks, SR_FACTOR), side)
        D = self.build_d(c, side)
        self._content = self.content_net()
        self.init_step_count()
        return G, D

    def build_d(self, channels: int, side: int) -> nn.Module:
        p = self.p
        return SRDiscriminator(channels, side, p.d_width, p.d_stages, p.d_hidden)

    def content_net(self):
        from ...data.domains import base_of
        from ...nn.perceptual import ClassifierFeatures, VGGFeatures

        if self.p.content == "mse" or torch.empty(0).is_meta:  # (built on the meta device to count parameters)
            return None
        if self.p.content == "vgg":
            return VGGFeatures(self.p.vgg_weights)
        base = base_of(self.info, 1)
        return ClassifierFeatures(base if base in ("mnist", "fashion-mnist") else "mnist")

    @property
    def input_sides(self):
        """The stored low-resolution image (full size) or the small image itself."""
        return (self.info.shape[-1], self.info.shape[-1] // SR_FACTOR)

    def content_loss(self, fake: Tensor, real: Tensor) -> Tensor:
        if self._content is None:
            return (fake - real).pow(2).mean()
        return (self._content(fake) - self._content(real)).pow(2).mean()

    def adversarial_weight(self) -> float:
        return self.p.adv_weight if self._steps >= self.p.pretrain_steps else 0.0

    def d_step(self, real: Tensor, labels) -> StepResult:
        low, high = self.split(real)
        with torch.no_grad():
            fake = self.G(low)
        loss = self.objective.d_loss(self.D(high), self.D(fake))
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels) -> StepResult:
        low, high = self.split(real)
        fake = self.G(low)
        content = self.content_loss(fake, high)
        logs = {"content": content.detach()}
        w = self.adversarial_weight()
        if not w:  # content alone (SRResNet, or SRGAN's pretraining): D is not read
            return content, {**logs, "g_loss": torch.zeros((), device=fake.device)}
        adv = self.objective.g_loss(self.D(fake))
        return content + w * adv, {**logs, "g_loss": adv.detach()}


@dataclass
class SRResNetParams(SRGANParams):
    """SRResNet-MSE: G alone on the pixel MSE."""

    content: Literal["features", "mse", "vgg"] = "mse"
    adv_weight: float = field(default=0.0, metadata=_rng(0.0, 0.0))


class SRResNetGAN(SRGAN):
    """The paper's SRResNet-MSE baseline: SRGAN's G trained on the pixel MSE alone; no D."""

    Params = SRResNetParams
    no_penalties_why = "it has no discriminator"

    def build_d(self, channels: int, side: int) -> nn.Module:
        return nn.ModuleDict()  # no discriminator

    def optim_groups(self):
        return {"g": list(self.G.parameters())}

    def phases(self) -> List[Phase]:
        return [Phase("g", self.g_step)]


GANS.add("srgan", SRGAN)
GANS.add("srresnet", SRResNetGAN)
