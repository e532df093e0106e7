"""Two-way unpaired translators: CycleGAN, and DiscoGAN and DualGAN as its variants.

**CycleGAN** -- Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", arXiv 1703.10593. Two generators G: A -> B and F: B -> A, two discriminators D_B and
D_A. With a GAN loss per direction, the cycle-consistency loss and the identity loss (Eq. 1-3 and Sec. 5.2):

    L = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda (E|F(G(a)) - a|_1 + E|G(F(b)) - b|_1)
        + lambda_id lambda (E|G(b) - b|_1 + E|F(a) - a|_1),      lambda = 10,  lambda_id = 0.5.

The GAN loss is least squares (Sec. 4, "Training details", after Mao et al. 2016): D minimises
E(D(y) - 1)^2 + E D(G(x))^2 divided by 2, and G minimises E(D(G(x)) - 1)^2. gankit's ``lsgan`` objective already
halves both (:mod:`gankit.objectives.lsgan`), so G's adversarial term is doubled (``model.adv_weight=2``) to be the
paper's. D sees a history of the 50 last generated images (:class:`gankit.nn.history.HistoryBuffer`, in the
checkpoint). G is the ResNet generator, D the 70 x 70 PatchGAN with instance norm (Appendix 7.2), Adam(2e-4,
beta1 0.5), init N(0, 0.02). Order: the generators' update, then the discriminators' on the fakes that update made
(as the authors' code does).

**DiscoGAN** -- Kim, Cha, Kim, Lee & Kim 2017, "Learning to Discover Cross-Domain Relations with Generative
Adversarial Networks", arXiv 1703.05192: the same two-generator, two-discriminator game with the standard GAN loss
and a reconstruction loss in both directions, a squared distance (Sec. 3.2, Eq. 2-5: d is MSE), weight 1 against
the GAN terms; conv encoder-decoder generators without skips; no identity loss, no history. The preset
``discogan``.

**DualGAN** -- Yi, Zhang, Tan & Gong 2017, "DualGAN: Unsupervised Dual Learning for Image-to-Image Translation",
arXiv 1704.02510: primal and dual U-Net generators, PatchGAN critics with the Wasserstein loss and weight
clipping (c = 0.01), L1 reconstruction with weights lambda_U = lambda_V in the hundreds to a thousand (Eq. 4, Sec.
4: 500-1,000), RMSProp (5e-5), two critic updates per generator update (n_critic = 2 in the paper's Alg. 1). The
preset ``dualgan``.

The three share this module: the variants are settings (generator and loss kinds, weights), their presets set
them. Each variant is registered under its name with its own defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Literal, Optional

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...models.translation import PatchDiscriminator, ResnetGenerator, UNetGenerator
from ...nn import init_dcgan
from ...nn.history import HistoryBuffer
from .. import GANS
from ..base import Phase, StepResult
from .base import Translator


@dataclass
class CycleParams:
    """``model.*`` of the two-way translators (CycleGAN's defaults)."""

    g_arch: Literal["resnet", "unet", "encdec"] = "resnet"  # ResNet (CycleGAN), U-Net (DualGAN), no skips (DiscoGAN)
    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))
    blocks: int = field(default=6, metadata=_rng(0))        # resnet: residual blocks (the paper: 6 at 128 px)
    depth: int = field(default=5, metadata=_rng(1))         # unet / encdec: halvings
    d_layers: int = field(default=2, metadata=_rng(1))      # PatchGAN's stride-2 convs
    norm: Literal["instance", "batch", "none"] = "instance"
    cycle_weight: float = field(default=10.0, metadata=_rng(0.0))   # lambda
    cycle_loss: Literal["l1", "l2"] = "l1"
    identity: float = field(default=0.5, metadata=_rng(0.0))        # lambda_id, in units of lambda
    adv_weight: float = field(default=2.0, metadata=_rng(0.0, lo_open=True))  # lsgan's 1/2 undone (see above)
    history: int = field(default=50, metadata=_rng(0))      # fakes kept for D (0: none)
    d_clip: Optional[float] = field(default=None, metadata=_rng(0.0, lo_open=True))  # weight clipping (DualGAN)


def reconstruction(x: Tensor, target: Tensor, kind: str) -> Tensor:
    """Mean |x - target| (``l1``) or mean (x - target)^2 (``l2``)."""
    diff = x - target
    return diff.abs().mean() if kind == "l1" else diff.pow(2).mean()


class CycleGAN(Translator):
    """Zhu et al. 2017 (arXiv 1703.10593): G: A -> B and F: B -> A with cycle and identity losses, LSGAN, history."""

    Params = CycleParams
    default_objective = "lsgan"
    directions = ("ab", "ba")
    no_penalties_why = "its discriminators are two (D_A, D_B); the papers use none"

    def build(self, info):
        p, (ca, cb) = self.p, self.domain_channels
        side = info.shape[-1]
        if p.identity and ca != cb:
            raise ConfigError(f"config: the identity loss (model.identity={p.identity:g}) feeds B's images to the "
                              f"A -> B generator, but '{info.name}' has {ca} and {cb} channels; set model.identity=0")
        if p.g_arch != "resnet" and side % (2 ** p.depth):
            raise ConfigError(f"config: model.depth={p.depth} halves the image {p.depth} times, so its side must be a "
                              f"multiple of {2 ** p.depth}; '{info.name}' is {side} x {side} (use data.resolution=32)")
        G = nn.ModuleDict({"ab": self.generator_net(ca, cb), "ba": self.generator_net(cb, ca)})
        D = nn.ModuleDict({"a": PatchDiscriminator(ca, p.d_width, p.d_layers, p.norm),
                           "b": PatchDiscriminator(cb, p.d_width, p.d_layers, p.norm)})
        init_dcgan(G)
        init_dcgan(D)
        shape = tuple(info.shape[-2:])
        self.history_a = HistoryBuffer(p.history, (ca,) + shape)
        self.history_b = HistoryBuffer(p.history, (cb,) + shape)
        self._fakes: Optional[tuple] = None
        return G, D

    def generator_net(self, cin: int, cout: int) -> nn.Module:
        p = self.p
        if p.g_arch == "resnet":
            return ResnetGenerator(cin, cout, p.g_width, p.blocks, norm=p.norm)
        skips = p.g_arch == "unet"
        return UNetGenerator(cin, cout, p.g_width, p.depth, dropout=0.0, norm=p.norm, skips=skips)

    def phases(self) -> List[Phase]:
        return [Phase("g", self.g_step), Phase("d", self.d_step, self.cfg.train.n_critic)]

    def g_step(self, real: Tensor, labels) -> StepResult:
        p = self.p
        a, b = self.split(real)
        G, F = self.G["ab"], self.G["ba"]
        fake_b, fake_a = G(a), F(b)
        adv = self.objective.g_loss(self.D["b"](fake_b)) + self.objective.g_loss(self.D["a"](fake_a))
        cycle = reconstruction(F(fake_b), a, p.cycle_loss) + reconstruction(G(fake_a), b, p.cycle_loss)
        loss = p.adv_weight * adv + p.cycle_weight * cycle
        logs = {"g_loss": adv.detach(), "cycle": cycle.detach()}
        if p.identity:
            ident = (G(b) - b).abs().mean() + (F(a) - a).abs().mean()
            loss = loss + p.identity * p.cycle_weight * ident
            logs["identity"] = ident.detach()
        self._fakes = (fake_a.detach(), fake_b.detach())
        return loss, logs

    def d_step(self, real: Tensor, labels) -> StepResult:
        a, b = self.split(real)
        if self._fakes is None or self.cfg.train.n_critic > 1:  # fresh fakes (each critic update on its own batch)
            with torch.no_grad():
                self._fakes = (self.G["ba"](b), self.G["ab"](a))
        fake_a, fake_b = self._fakes
        self._fakes = None
        loss_a = self.objective.d_loss(self.D["a"](a), self.D["a"](self.history_a(fake_a)))
        loss_b = self.objective.d_loss(self.D["b"](b), self.D["b"](self.history_b(fake_b)))
        loss = loss_a + loss_b
        return loss, {"d_loss": loss.detach(), "d_loss_a": loss_a.detach(), "d_loss_b": loss_b.detach()}

    def after_step(self, group: str) -> None:
        if group == "d" and self.p.d_clip is not None:
            from ...penalties.constraints import clip_weights_

            clip_weights_(self.D, self.p.d_clip)


@dataclass
class DiscoParams(CycleParams):
    """DiscoGAN's defaults (Kim et al. 2017, arXiv 1703.05192)."""

    g_arch: Literal["resnet", "unet", "encdec"] = "encdec"
    norm: Literal["instance", "batch", "none"] = "batch"
    cycle_weight: float = field(default=1.0, metadata=_rng(0.0))
    cycle_loss: Literal["l1", "l2"] = "l2"
    identity: float = field(default=0.0, metadata=_rng(0.0))
    adv_weight: float = field(default=1.0, metadata=_rng(0.0, lo_open=True))
    history: int = field(default=0, metadata=_rng(0))


class DiscoGAN(CycleGAN):
    """Kim et al. 2017 (arXiv 1703.05192): standard GAN loss, squared reconstruction in both directions,
    encoder-decoder generators."""

    Params = DiscoParams
    default_objective = "nonsaturating"


@dataclass
class DualParams(CycleParams):
    """DualGAN's defaults (Yi et al. 2017, arXiv 1704.02510)."""

    g_arch: Literal["resnet", "unet", "encdec"] = "unet"
    norm: Literal["instance", "batch", "none"] = "batch"
    cycle_weight: float = field(default=500.0, metadata=_rng(0.0))
    identity: float = field(default=0.0, metadata=_rng(0.0))
    adv_weight: float = field(default=1.0, metadata=_rng(0.0, lo_open=True))
    history: int = field(default=0, metadata=_rng(0))
    d_clip: Optional[float] = field(default=0.01, metadata=_rng(0.0, lo_open=True))


class DualGAN(CycleGAN):
    """Yi et al. 2017 (arXiv 1704.02510): Wasserstein critics with weight clipping, U-Net generators, L1
    reconstruction weighted in the hundreds."""

    Params = DualParams
    default_objective = "wgan"


GANS.add("cyclegan", CycleGAN)
GANS.add("discogan", DiscoGAN)
GANS.add("dualgan", DualGAN)
