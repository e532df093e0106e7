"""What the class-conditional GANs share: labelled image data, networks built from the conditioning
parts of :mod:`gankit.nn.conditioning`, and the conditional version of the default steps.

The generator is DCGAN's (Radford et al. 2015, arXiv 1511.06434), the "standard CNN" of SNGAN
(Miyato et al. 2018, arXiv 1802.05957, Table 3) or an MLP (Mirza & Osindero's MNIST nets were MLPs), conditioned by ``model.g_cond``: ``concat`` appends
the label's one-hot code (or a ``model.label_dim`` embedding) to z (Mirza & Osindero 2014, arXiv
1411.1784), ``cbn`` makes every batch norm class-conditional (Miyato & Koyama 2018, arXiv
1802.05637). Each GAN says how its discriminator is conditioned (:meth:`ConditionalGAN.build_d`).

The steps are the base class's with labels: fakes are generated for the labels of the real batch
the phase receives (so classes come in the data's proportions), D judges ``D(x, y)``, and the
penalties see D bound to those labels. Generated samples use balanced labels (``GAN.sample_labels``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ...models.sngan import SNGANDiscriminator, SNGANGenerator
from ...nn import InputConditioned, LabelBound, LabelInput, LayerFactory, init_dcgan
from ...nn.conditioning import need_labels
from ..base import GAN, StepResult

CONV_GENERATORS = {"dcgan": DCGANGenerator, "sngan": SNGANGenerator}
CONV_DISCRIMINATORS = {"dcgan": DCGANDiscriminator, "sngan": SNGANDiscriminator}


@dataclass
class ConditionalParams:
    """``model.*`` shared by the conditional GANs."""

    arch: Literal["dcgan", "sngan", "mlp"] = "dcgan"     # DCGAN nets, SNGAN's standard CNN, or MLPs
    z_dim: int = field(default=100, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))    # conv nets: base channels
    d_width: int = field(default=64, metadata=_rng(1))
    hidden: int = field(default=256, metadata=_rng(1))    # MLP width and hidden layers
    g_depth: int = field(default=3, metadata=_rng(1))
    d_depth: int = field(default=3, metadata=_rng(1))
    fc: int = field(default=0, metadata=_rng(0))          # dcgan: hidden FC layer in G and D (InfoGAN's 1024)
    g_cond: Literal["concat", "cbn"] = "concat"          # label into G: appended to z, or conditional BN
    label_dim: int = field(default=0, metadata=_rng(0))  # concat: 0 = one-hot code, d = learned embedding
    # DCGAN and MLP D (SNGAN's has no normalisation): auto is none for MLP; for DCGAN batch, or layer with a
    # per-sample gradient penalty
    d_norm: Literal["batch", "layer", "none", "auto"] = "auto"
    d_sn: bool = False                                    # spectral norm on every D layer (and its embedding)
    d_slope: float = field(default=0.2, metadata=_rng(0.0, 1.0))  # LeakyReLU slope in D


class ConditionalGAN(GAN):
    """Base of the class-conditional GANs (not registered itself)."""

    Params = ConditionalParams
    needs_images = True
    conditional = True

    # ------------------------------------------------------------ networks
    def build(self, info):
        K = self.num_classes
        if K < 2:
            raise ConfigError(f"config: GAN '{self.cfg.gan}' is class-conditional and needs labelled data, "
                              f"but '{info.name}' has no class labels")
        p = self.p
        if p.fc and p.arch != "dcgan":
            raise ConfigError(f"config: model.fc (a hidden FC layer) is for model.arch=dcgan, not '{p.arch}'")
        concat, mlp = p.g_cond == "concat", p.arch == "mlp"
        label = LabelInput(K, p.label_dim) if concat else None
        norm = "conditional" if not concat else ("none" if mlp else "batch")
        factory = LayerFactory(norm=norm, act="relu", classes=K)
        z_in = self.latent_dim + (label.dim if concat else 0)
        if mlp:
            G = MLPGenerator(z_in, info.shape, p.hidden, p.g_depth, factory, tanh=True)
        else:
            G = CONV_GENERATORS[p.arch](z_in, info.shape, p.g_width, factory, **self.fc_arg())
            init_dcgan(G)  # N(0, 0.02) weights; conditional BN keeps its gains 1 and biases 0
        G = InputConditioned(G, label) if concat else G
        D = self.build_d(info, K)
        if p.arch == "dcgan":  # SNGAN's D and the MLPs keep PyTorch's init (see gans/sngan.py, vanilla.py)
            init_dcgan(D)
        return G, D

    def d_factory(self) -> LayerFactory:
        p = self.p
        auto = "none" if p.arch == "mlp" else ("layer" if self.per_sample_penalties else "batch")
        norm = auto if p.d_norm == "auto" else p.d_norm
        return LayerFactory(sn=p.d_sn, norm=norm, act="lrelu", slope=p.d_slope)

    def d_net(self, in_shape: tuple) -> nn.Module:
        """The unconditional discriminator of ``model.arch`` for inputs of ``in_shape``."""
        p = self.p
        if p.arch == "mlp":
            return MLPDiscriminator((math.prod(in_shape),), p.hidden, p.d_depth, self.d_factory())
        return CONV_DISCRIMINATORS[p.arch](tuple(in_shape), p.d_width, self.d_factory(), **self.fc_arg())

    def fc_arg(self) -> dict:
        return {"fc": self.p.fc} if self.p.fc else {}

    def label_input(self, info, num_classes: int):
        """``(LabelInput, D's input shape)`` for a D that takes the label with its input: constant
        channels for the conv nets, appended to the flattened image for the MLP."""
        label = LabelInput(num_classes, self.p.label_dim, flat=self.p.arch == "mlp")
        if label.flat:
            return label, (math.prod(info.shape) + label.dim,)
        channels, h, w = info.shape
        return label, (channels + label.dim, h, w)

    def build_d(self, info, num_classes: int) -> nn.Module:
        raise NotImplementedError

    # ------------------------------------------------------------ the steps
    def labels_of(self, labels: Optional[Tensor]) -> Tensor:
        return need_labels(labels, f"GAN '{self.cfg.gan}'").long()

    def generate(self, n: int, y: Tensor) -> Tensor:
        return self.G(self.sample_z(n), y)

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        y = self.labels_of(labels)
        with torch.no_grad():
            fake = self.generate(real.shape[0], y)
        loss, logs = self.d_loss(real, fake, y)
        return self.add_penalties(loss, logs, real, fake, LabelBound(self.D, y))

    def d_loss(self, real: Tensor, fake: Tensor, y: Tensor) -> StepResult:
        loss = self.objective.d_loss(self.D(real, y), self.D(fake, y))
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        y = self.labels_of(labels)
        d_fake = self.D(self.generate(real.shape[0], y), y)
        d_real = self.D(real, y) if self.objective.g_needs_real else None
        loss = self.objective.g_loss(d_fake, d_real)
        return loss, {"g_loss": loss.detach()}
