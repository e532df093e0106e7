"""ComboGAN, Anoosheh, Agustsson, Timofte & Van Gool 2017, "ComboGAN: Unrestrained Scalability for Image Domain
Translation", arXiv 1712.06909.

CycleGAN learns one pair of domains with two generators; for N domains it would need N(N - 1) generators.
ComboGAN splits CycleGAN's generator in the middle and keeps one *encoder* E_i and one *decoder* G_i per domain
(plus one discriminator D_i), so translating domain i into domain j is G_j(E_i(x)) for any pair -- the nets grow
linearly with N (Sec. 3, Fig. 2). Each training iteration draws two domains i != j uniformly and takes one
CycleGAN step between them (Sec. 3.2):

    L = L_GAN(G_j E_i, D_j) + L_GAN(G_i E_j, D_i) + lambda (E|G_i E_j G_j E_i(x_i) - x_i|_1
                                                             + E|G_j E_i G_i E_j(x_j) - x_j|_1),   lambda = 10,

least-squares GAN loss (``model.adv_weight=2`` undoes gankit's lsgan 1/2 on G's term, as for CycleGAN), Adam(2e-4,
beta1 0.5), instance norm, init N(0, 0.02); G's update, then D's on the fakes it made. Only the chosen pair's nets
receive gradients in an iteration (the optimisers skip the others). Here the encoder is CycleGAN's c7s1 and
stride-2 convs with the first ``enc_blocks`` residual blocks and the decoder the remaining ``dec_blocks`` with the
transposed convs (:func:`gankit.models.translation.resnet_encoder_layers`); no identity loss and no history of
fakes (the paper's code inherits an image pool from CycleGAN's; not here).

The pair of step s is drawn from a generator seeded by the run's seed and s, so a resumed run draws the same
pairs. Data: any two-domain translation set, or ``mnist-colours`` (three domains, :mod:`gankit.data.multidomain`);
``gankit translate RUN --to red2green`` names the pair on a multi-domain set (``--to a``/``b`` on two domains).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from ...config import Config, _rng
from ...data.domains import TRANSLATION_SETS, domain_slices
from ...data.multidomain import MULTI_DOMAIN_SETS
from ...errors import ConfigError, GankitError
from ...models.translation import PatchDiscriminator, resnet_decoder_layers, resnet_encoder_layers
from ...nn import LayerFactory, init_dcgan
from .. import GANS
from ..base import CountsGeneratorSteps, Phase, StepResult
from .base import Translator, to_rgb


@dataclass
class ComboParams:
    """``model.*`` of ComboGAN."""

    g_width: int = field(default=16, metadata=_rng(1))
    d_width: int = field(default=32, metadata=_rng(1))
    enc_blocks: int = field(default=2, metadata=_rng(0))   # residual blocks in each encoder
    dec_blocks: int = field(default=1, metadata=_rng(0))   # and in each decoder (CycleGAN's G split in two)
    d_layers: int = field(default=2, metadata=_rng(1))
    cycle_weight: float = field(default=10.0, metadata=_rng(0.0))
    adv_weight: float = field(default=2.0, metadata=_rng(0.0))


class DomainNets(nn.Module):
    """One encoder and one decoder per domain (``enc[i]``, ``dec[i]``); ``translate(x, i, j)`` = dec_j(enc_i(x))."""

    def __init__(self, channels, width: int, enc_blocks: int, dec_blocks: int):
        super().__init__()
        f = LayerFactory(norm="instance")
        self.enc = nn.ModuleList([nn.Sequential(*resnet_encoder_layers(c, width, enc_blocks, f)) for c in channels])
        self.dec = nn.ModuleList([nn.Sequential(*resnet_decoder_layers(c, width, dec_blocks, f)) for c in channels])

    def translate(self, x: Tensor, src: int, dst: int) -> Tensor:
        return self.dec[dst](self.enc[src](x))


class Pair(nn.Module):
    """One translation of the domain nets as a module (what the translator's helpers call)."""

    def __init__(self, nets: DomainNets, src: int, dst: int):
        super().__init__()
        self.nets, self.src, self.dst = nets, src, dst
        self.training = nets.training

    def forward(self, x: Tensor) -> Tensor:
        return self.nets.translate(x, self.src, self.dst)


class ComboGAN(CountsGeneratorSteps, Translator):
    """Anoosheh et al. 2017 (arXiv 1712.06909): an encoder, a decoder and a discriminator per domain; each step a
    CycleGAN step between two domains drawn at random."""

    Params = ComboParams
    default_objective = "lsgan"
    takes_many_domains = True
    no_penalties_why = "its discriminators are one per domain; the paper uses none"

    @classmethod
    def validate(cls, cfg: Config) -> None:
        super(Translator, cls).validate(cfg)  # the checks of every GAN, not the two-domain translators'
        if cfg.data.name not in TRANSLATION_SETS and cfg.data.name not in MULTI_DOMAIN_SETS:
            raise ConfigError(f"config: GAN '{cfg.gan}' translates between domains; data.name must be a multi-domain "
                              f"set ({', '.join(MULTI_DOMAIN_SETS)}) or a translation set (e.g. mnist2inverted, "
                              f"unpaired-folder; `gankit list`), got '{cfg.data.name}'")

    @property
    def domain_names(self) -> Tuple[str, ...]:
        return tuple(n for n, _ in self.info.domains)

    @property
    def many(self) -> bool:
        """True on a set of more than two domains (pairs are named ``red2green``; two domains: ``ab``, ``ba``)."""
        return len(self.info.domains) > 2

    @property
    def directions(self) -> Tuple[str, ...]:
        if not self.many:
            return ("ab", "ba")
        names = self.domain_names
        return tuple(f"{names[i]}2{names[j]}" for i in range(len(names)) for j in range(len(names)) if i != j)

    def pair_of(self, direction: str) -> Tuple[int, int]:
        """``(source, target)`` domain indices of a direction name."""
        if direction in ("ab", "ba") and not self.many:
            return (0, 1) if direction == "ab" else (1, 0)
        if direction not in self.directions:
            raise GankitError(f"unknown translation '{direction}'; this run translates {', '.join(self.directions)}")
        src, dst = direction.split("2")
        return self.domain_names.index(src), self.domain_names.index(dst)

    def build(self, info):
        p = self.p
        if info.shape[-1] % 4:
            raise ConfigError(f"config: ComboGAN halves the image twice; its side must be a multiple of 4, got "
                              f"{info.shape[-1]}")
        channels = [c for _, c in info.domains]
        G = DomainNets(channels, p.g_width, p.enc_blocks, p.dec_blocks)
        D = nn.ModuleList([PatchDiscriminator(c, p.d_width, p.d_layers, "instance") for c in channels])
        init_dcgan(G)
        init_dcgan(D)
        self.slices = domain_slices(info)
        self.init_step_count()
        self._cached: Optional[tuple] = None
        return G, D

    # ------------------------------------------------------------ steps
    def pair_at(self, step: int) -> Tuple[int, int]:
        """The two domains of generator step ``step``: a uniform ordered pair i != j, seeded by (seed, step)."""
        g = torch.Generator().manual_seed(self.cfg.seed * 1000003 + step)
        i, j = torch.randperm(len(self.info.domains), generator=g)[:2].tolist()
        return i, j

    def phases(self) -> List[Phase]:
        return [Phase("g", self.g_step), Phase("d", self.d_step, self.cfg.train.n_critic)]

    def g_step(self, real: Tensor, labels) -> StepResult:
        p, G = self.p, self.G
        i, j = self.pair_at(self._steps)
        xi, xj = self.domain_images(real, i), self.domain_images(real, j)
        ij, ji = G.translate(xi, i, j), G.translate(xj, j, i)
        adv = self.objective.g_loss(self.D[j](ij)) + self.objective.g_loss(self.D[i](ji))
        cycle = (G.translate(ij, j, i) - xi).abs().mean() + (G.translate(ji, i, j) - xj).abs().mean()
        self._cached = (i, j, ij.detach(), ji.detach())
        loss = p.adv_weight * adv + p.cycle_weight * cycle
        return loss, {"g_loss": adv.detach(), "cycle": cycle.detach()}

    def d_step(self, real: Tensor, labels) -> StepResult:
        if self._cached is None or self.cfg.train.n_critic > 1:  # fresh fakes for the last step's pair
            i, j = self.pair_at(max(self._steps - 1, 0))
            xi, xj = self.domain_images(real, i), self.domain_images(real, j)
            with torch.no_grad():
                self._cached = (i, j, self.G.translate(xi, i, j), self.G.translate(xj, j, i))
        i, j, ij, ji = self._cached
        self._cached = None
        xi, xj = self.domain_images(real, i), self.domain_images(real, j)
        loss = self.objective.d_loss(self.D[i](xi), self.D[i](ji)) + self.objective.d_loss(self.D[j](xj), self.D[j](ij))
        return loss, {"d_loss": loss.detach()}

    # ------------------------------------------------------------ translating
    def generator(self, direction: str, ema: bool = True) -> nn.Module:
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        return Pair(G, *self.pair_of(direction))

    def target(self, to: Optional[str] = None) -> str:
        if not self.many:
            return super().target(to)
        if not to:
            raise GankitError(f"name the translation with --to SOURCE2TARGET, one of: {', '.join(self.directions)}")
        direction = str(to).strip().lower()
        self.pair_of(direction)
        return direction

    def input_channels(self, target) -> int:
        return self.info.domains[self.pair_of(target)[0]][1]

    def describe(self, target) -> str:
        if not self.many:
            return super().describe(target)
        return f"domain {self.domain_names[self.pair_of(target)[1]]}"

    def domain_images(self, x: Tensor, k: int) -> Tensor:
        return x[:, self.slices[k]]

    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "ab", ema: bool = True, chunk: int = 500) -> Tensor:
        src, dst = self.pair_of(direction)
        c = self.info.domains[src][1]
        side = self.info.shape[-1]
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, side, side):
            raise GankitError(f"images to translate {direction} must have shape (N, {c}, {side}, {side}), got "
                              f"{tuple(x.shape)}")
        G = self.generator(direction, ema)
        was = G.nets.training
        G.nets.eval()
        try:
            parts = [G(x[k:k + chunk].to(self.device)) for k in range(0, x.shape[0], chunk)]
        finally:
            G.nets.train(was)
        if not parts:
            return x.new_zeros((0, self.info.domains[dst][1], side, side))
        return torch.cat(parts).float()

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """The first ``n`` test images of the first domain translated into the second, with their classes."""
        x, y = self.images_to_sample(n, labels, truncation)
        classes = y[:, 0, 0] if y.dim() == 3 else y[:, 0]
        return self.translate(self.domain_images(x, 0), self.directions[0], ema, chunk), classes

    def sample_grid(self, n: int, seed: int = 0):
        """Rows of 8 test images: for each domain, its images, then their translation into every domain (the
        source's own column: its auto-encoding)."""
        if not self.many:
            return super().sample_grid(n, seed)
        per = 8
        x, _ = self.task_data()
        rows = []
        for i in range(len(self.info.domains)):
            src = self.domain_images(x[:per], i)
            rows.append(to_rgb(src))
            was = self.G.training
            self.G.eval()
            with torch.no_grad():
                rows += [to_rgb(self.G.translate(src.to(self.device), i, j).float())
                         for j in range(len(self.info.domains))]
            self.G.train(was)
        return torch.cat(rows), per

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        if not self.many:
            return super().evaluate_task(n, seed, split, root)
        from ...metrics.translation import colour_domain_metrics

        return colour_domain_metrics(self, n=n, seed=seed, split=split, root=root)


GANS.add("combogan", ComboGAN)
