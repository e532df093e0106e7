"""StarGAN, Choi, Choi, Kim, Ha, Kim & Choo 2017, "StarGAN: Unified Generative Adversarial Networks for
Multi-Domain Image-to-Image Translation", arXiv 1711.09020.

One generator translates an image into any domain: G(x, c) takes the target attribute vector c as constant
input channels (Sec. 3.1). D has two heads on one trunk (:class:`gankit.models.translation.MultiDomainDiscriminator`):
D_src, real or fake per patch, and D_cls, the attributes. With the Wasserstein loss and a gradient penalty
(Sec. 3.3, Eq. 8, lambda_gp = 10) the objectives are (Eq. 5 and 6)

    L_D = -L_adv + lambda_cls L_cls^r,      L_cls^r = E -log D_cls(c' | x)       (the real image's attributes c')
    L_G =  L_adv + lambda_cls L_cls^f + lambda_rec L_rec,
    L_cls^f = E -log D_cls(c | G(x, c)),    L_rec = E |x - G(G(x, c), c')|_1      (cycle back with c'),

lambda_cls = 1, lambda_rec = 10. The attribute losses are a sigmoid cross-entropy per attribute, summed over the
attributes and averaged over the batch, as in the authors' code. Targets c are the attribute vectors of the same
batch in a random order (so every domain is a target in the data's proportions). Nets: the ResNet G of CycleGAN
with instance norm (Appendix, Table 4) and input channels for c; Adam(1e-4, beta1 0.5, beta2 0.999), five D
updates per G update (Sec. 4.3 / Appendix 7).

Data: ``mnist-attributes`` (:mod:`gankit.data.attributes`): colour (red, green, blue; one-hot), thick, rotated.
Not here: the mask vector for training on several datasets with different label sets (Sec. 3.2); gankit has one
multi-domain set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import Config, _rng
from ...errors import ConfigError, GankitError
from ...models.translation import MultiDomainDiscriminator, ResnetGenerator
from .. import GANS
from ..base import GAN, StepResult
from .base import Translator, to_rgb

ATTRIBUTE_SETS = ("mnist-attributes",)


@dataclass
class StarGANParams:
    """``model.*`` of StarGAN."""

    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))
    blocks: int = field(default=6, metadata=_rng(0))
    d_layers: int = field(default=6, metadata=_rng(1))
    lambda_cls: float = field(default=1.0, metadata=_rng(0.0))
    lambda_rec: float = field(default=10.0, metadata=_rng(0.0))


class AttributeConditioned(nn.Module):
    """``G(x, c)``: the attribute vector c appended to the image as constant channels."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.net(torch.cat([x, maps], 1))


def attribute_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Sigmoid cross-entropy summed over the attributes, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


class StarGAN(Translator):
    """Choi et al. 2017 (arXiv 1711.09020): one G for every domain, D with a domain-classifier head, WGAN-GP."""

    Params = StarGANParams
    default_objective = "wgan"
    objectives = ("wgan",)
    objectives_why = "uses the Wasserstein loss of its paper (Eq. 8, with the gradient penalty)"
    directions = ()
    takes_domains = False  # its data is an attribute set, not a translation set

    @classmethod
    def validate(cls, cfg: Config) -> None:
        GAN.validate(cfg)
        if cfg.data.name not in ATTRIBUTE_SETS:
            raise ConfigError(f"config: GAN '{cfg.gan}' translates between attribute domains; data.name must be "
                              f"{' or '.join(ATTRIBUTE_SETS)}, got '{cfg.data.name}'")

    @property
    def attributes(self):
        return self.info.attributes

    def build(self, info):
        p, c, a = self.p, info.shape[0], len(info.attributes)
        G = AttributeConditioned(ResnetGenerator(c + a, c, p.g_width, p.blocks, norm="instance", pad="zero"))
        D = MultiDomainDiscriminator(c, info.shape[-1], a, p.d_width, p.d_layers)
        return G, D

    # ------------------------------------------------------------ steps
    @staticmethod
    def split_labels(labels: Tensor):
        """``(classes, attribute vectors as floats)`` of a batch's label rows."""
        return labels[:, 0], labels[:, 1:].float()

    def targets(self, c_org: Tensor) -> Tensor:
        return c_org[torch.randperm(c_org.shape[0], device=c_org.device)]

    def d_step(self, real: Tensor, labels) -> StepResult:
        _, c_org = self.split_labels(labels)
        with torch.no_grad():
            fake = self.G(real, self.targets(c_org))
        src_r, cls_r = self.D(real)
        src_f, _ = self.D(fake)
        adv = self.objective.d_loss(src_r, src_f)
        cls = attribute_loss(cls_r, c_org)
        loss = adv + self.p.lambda_cls * cls
        return self.add_penalties(loss, {"d_loss": adv.detach(), "d_cls": cls.detach()}, real, fake,
                                  D=lambda x: self.D(x)[0])

    def g_step(self, real: Tensor, labels) -> StepResult:
        _, c_org = self.split_labels(labels)
        c_trg = self.targets(c_org)
        fake = self.G(real, c_trg)
        src_f, cls_f = self.D(fake)
        adv = self.objective.g_loss(src_f)
        cls = attribute_loss(cls_f, c_trg)
        rec = (real - self.G(fake, c_org)).abs().mean()
        loss = adv + self.p.lambda_cls * cls + self.p.lambda_rec * rec
        return loss, {"g_loss": adv.detach(), "g_cls": cls.detach(), "rec": rec.detach()}

    # ------------------------------------------------------------ translating
    def target(self, to: Optional[str] = None) -> Tensor:
        """``--to red,thick``: the named attributes on, the others off (one colour of the one-hot group)."""
        if not to:
            raise GankitError(f"give the target attributes to translate into, comma-separated, from: "
                              f"{', '.join(self.attributes)} (e.g. --to red,thick)")
        names = [w.strip().lower() for w in str(to).split(",") if w.strip()]
        unknown = [w for w in names if w not in self.attributes]
        if unknown:
            raise GankitError(f"unknown attribute '{unknown[0]}'; attributes: {', '.join(self.attributes)}")
        c = torch.tensor([1.0 if a in names else 0.0 for a in self.attributes])
        for group in self.info.attribute_groups:
            if int(c[list(group)].sum()) != 1:
                raise GankitError(f"choose exactly one of {', '.join(self.attributes[i] for i in group)}")
        return c

    def input_channels(self, target) -> int:
        return self.info.shape[0]

    def describe(self, target) -> str:
        on = [a for a, v in zip(self.attributes, target.tolist()) if v]
        return f"the domain {'+'.join(on)}"

    @torch.no_grad()
    def translate(self, x: Tensor, target: Tensor = None, ema: bool = True, chunk: int = 500) -> Tensor:
        """Images ``x`` translated to attribute vectors ``target`` (one ``(A,)`` for all, or ``(N, A)``)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.info.shape):
            raise GankitError(f"images to translate must have shape (N, {', '.join(map(str, self.info.shape))}), "
                              f"got {tuple(x.shape)}")
        target = torch.as_tensor(target, dtype=torch.float32, device=self.device)
        if target.dim() == 1:
            target = target.expand(x.shape[0], -1)
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        was = G.training
        G.eval()
        try:
            parts = [G(x[i:i + chunk].to(self.device), target[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        finally:
            G.train(was)
        return torch.cat(parts).float() if parts else x.new_zeros((0,) + tuple(self.info.shape))

    def seeded_targets(self, n: int, seed: int) -> Tensor:
        """``n`` attribute vectors drawn uniformly over the domains (seeded)."""
        from ...data.attributes import random_attributes

        return random_attributes(n, torch.Generator().manual_seed(seed)).float().to(self.device)

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """The first ``n`` test images, each translated into a random domain (seeded), with their classes."""
        if labels is not None or truncation is not None:
            raise GankitError(f"GAN '{self.cfg.gan}' translates images; it takes no labels or truncation")
        x, y = self.task_data()
        if n > len(x):
            raise GankitError(f"GAN '{self.cfg.gan}' samples by translating test images; at most {len(x)}, got {n}")
        return self.translate(x[:n], self.seeded_targets(n, seed), ema, chunk), y[:n, 0]

    def sample_grid(self, n: int, seed: int = 0):
        """A column per test image: the input, then its translation into each colour and with thick and rotated
        each switched (the others kept)."""
        per = 8
        x, y = self.task_data()
        x, c = x[:per], y[:per, 1:].float()
        rows = [x]
        for change in self.grid_changes(c):
            rows.append(self.translate(x, change))
        return torch.cat([to_rgb(r) for r in rows]), per

    def grid_changes(self, c: Tensor):
        """The targets of the picture: each colour of the one-hot group in turn, then each other attribute
        switched."""
        out = []
        grouped = {i for g in self.info.attribute_groups for i in g}
        for group in self.info.attribute_groups:
            for i in group:
                t = c.clone()
                t[:, list(group)] = 0
                t[:, i] = 1
                out.append(t)
        for i in range(len(self.attributes)):
            if i not in grouped:
                t = c.clone()
                t[:, i] = 1 - t[:, i]
                out.append(t)
        return out

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        from ...metrics.translation import attribute_translation_metrics

        return attribute_translation_metrics(self, n=n, seed=seed, split=split, root=root)


GANS.add("stargan", StarGAN)
