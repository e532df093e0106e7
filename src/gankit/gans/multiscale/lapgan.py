"""LAPGAN, Denton, Chintala, Szlam & Fergus 2015, "Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks", arXiv 1506.05751.

An image is its Laplacian pyramid (:mod:`gankit.nn.pyramid`): the coarsest image I_K and the residuals
h_k = I_k - u(I_{k+1}) of the finer levels. LAPGAN learns one GAN per level (Sec. 3.2):

* the coarsest level is a plain GAN of the K-times downsampled images: G_K(z) against D_K(I_K);
* every finer level k is a conditional GAN of the residual given the upsampled coarser image
  l_k = u(I_{k+1}): G_k(z_k, l_k) generates h~_k, and D_k(h, l_k) tells the real residual h_k from h~_k.

The levels are trained **independently**: each level's G is conditioned on the *real* coarser image of the data
(not on a generated one), and no loss of one level reads another level's nets. Sampling runs the chain from
coarse to fine, I~_k = u(I~_{k+1}) + G_k(z_k, u(I~_{k+1})) (Sec. 3.1, Eq. 1), so ``G`` here is that chain
(:class:`~gankit.models.pyramid.LaplacianGenerator`) and ``D`` the list of level discriminators.

**One optimiser group per player, not per level, and why that is the same.** Each step here sums the levels'
losses. The levels' parameters are disjoint and each level's loss depends only on its own nets, so the gradient
that a level's parameters receive from the sum is the gradient of that level's loss alone; Adam keeps its
moments and step count per parameter, so one Adam over all levels takes exactly the steps that one Adam per level
would (``tests/test_lapgan.py`` checks both facts). Per-level learning rates are what this shape gives up.

Nets (the paper's CIFAR-10 shapes at CPU widths): the coarsest level's are MLPs (G: ``model.depth`` hidden
layers of ``model.hidden`` units, batch norm, ReLU, tanh output; D: LeakyReLU), the finer levels' G a stack of
``model.g_layers`` 3x3 convolutions on [l_k, ``model.noise_planes`` planes of N(0, 1) noise] with a linear output,
their D stride-2 3x3 convolutions on [h, l_k] down to 4x4 or less, then a linear layer. Data 28x28 gives
28 -> 14 -> 7 (``model.levels=3``), 32x32 gives 32 -> 16 -> 8.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...models import MLPDiscriminator, MLPGenerator
from ...models.pyramid import LaplacianGenerator, PairDiscriminator, ResidualGenerator, strided_stages
from ...nn import LayerFactory, eval_mode
from ...nn.pyramid import enlarge, gaussian_pyramid, pyramid_sizes, upsample
from .. import GANS
from ..base import GAN, StepResult


@dataclass
class LAPGANParams:
    """``model.*`` for LAPGAN."""

    levels: int = field(default=3, metadata=_rng(2))          # pyramid levels (28 -> 14 -> 7)
    z_dim: int = field(default=100, metadata=_rng(1))         # the coarsest level's noise
    hidden: int = field(default=256, metadata=_rng(1))        # the coarsest level's MLP width
    depth: int = field(default=2, metadata=_rng(1))           # ... and hidden layers
    g_width: int = field(default=64, metadata=_rng(1))        # finer levels: G's conv channels
    g_layers: int = field(default=3, metadata=_rng(2))        # ... and conv layers
    d_width: int = field(default=64, metadata=_rng(1))        # finer levels: D's first conv's channels
    noise_planes: int = field(default=1, metadata=_rng(1))    # noise planes z_k at each finer level


class LAPGAN(GAN):
    """Denton et al. 2015 (arXiv 1506.05751): a GAN per level of a Laplacian pyramid, trained independently,
    sampled as a chain from coarse to fine."""

    Params = LAPGANParams
    needs_images = True
    no_penalties_why = ("each level's D judges a (residual, coarse image) pair, and the penalties differentiate a "
                        "D of one image")

    # ------------------------------------------------------------ networks
    def build(self, info):
        p = self.p
        c, size = int(info.shape[0]), int(info.shape[-1])
        try:
            sizes = pyramid_sizes(size, p.levels)
        except ValueError as e:
            raise ConfigError(f"config: model.levels={p.levels}: {e}") from None
        if sizes[-1] < 2:
            raise ConfigError(f"config: model.levels={p.levels} makes the coarsest level {sizes[-1]}x{sizes[-1]}; "
                              f"use fewer levels")
        coarse_shape = (c, sizes[-1], sizes[-1])
        coarse_G = MLPGenerator(p.z_dim, coarse_shape, p.hidden, p.depth, LayerFactory(norm="batch", act="relu"),
                                tanh=True)
        coarse_D = MLPDiscriminator(coarse_shape, p.hidden, p.depth, LayerFactory(act="lrelu"))
        g_factory = LayerFactory(norm="batch", act="relu")
        d_factory = LayerFactory(act="lrelu")
        level_G = [ResidualGenerator(c, p.noise_planes, p.g_width, p.g_layers, g_factory) for _ in sizes[:-1]]
        level_D = [PairDiscriminator(c, s, p.d_width, strided_stages(s), d_factory) for s in sizes[:-1]]
        self.sizes = sizes
        G = LaplacianGenerator(coarse_G, level_G, sizes, p.z_dim)
        return G, nn.ModuleList(level_D + [coarse_D])

    @property
    def latent_dim(self) -> int:
        return self.G.latent_dim

    # ------------------------------------------------------------ the levels' games
    def level_pairs(self, real: Tensor) -> Tuple[List[Tensor], List[Tensor], Tensor]:
        """``(residuals h_0..h_{K-1}, coarse conditions l_0..l_{K-1}, coarsest image I_K)`` of real images."""
        gauss = gaussian_pyramid(real, len(self.sizes))
        cond = [upsample(gauss[k + 1]) for k in range(len(self.sizes) - 1)]
        return [gauss[k] - cond[k] for k in range(len(cond))], cond, gauss[-1]

    def fakes(self, cond: List[Tensor], n: int) -> Tuple[List[Tensor], Tensor]:
        """Each finer level's generated residual given the *real* condition, and the coarsest level's fakes, from
        fresh noise."""
        z_coarse, noise = self.G.split(self.sample_z(n))
        residuals = [g(noise[k], cond[k]) for k, g in enumerate(self.G.levels)]
        return residuals, self.G.coarse(z_coarse)

    def level_scores(self, real: Tensor, grad_fakes: bool) -> Tuple[List[Tensor], List[Tensor]]:
        """D's logits per level, finest first and the coarsest last: on the real pairs and on the generated ones."""
        h, cond, coarse = self.level_pairs(real)
        with torch.set_grad_enabled(grad_fakes and torch.is_grad_enabled()):
            fake_h, fake_coarse = self.fakes(cond, real.shape[0])
        real_scores = [self.D[k](h[k], cond[k]) for k in range(len(cond))] + [self.D[-1](coarse)]
        fake_scores = [self.D[k](fake_h[k], cond[k]) for k in range(len(cond))] + [self.D[-1](fake_coarse)]
        return real_scores, fake_scores

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        real_s, fake_s = self.level_scores(real, grad_fakes=False)
        terms = [self.objective.d_loss(r, f) for r, f in zip(real_s, fake_s)]
        return self._sum(terms, "d_loss")

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        real_s, fake_s = self.level_scores(real, grad_fakes=True)
        needs_real = self.objective.g_needs_real
        terms = [self.objective.g_loss(f, r if needs_real else None) for r, f in zip(real_s, fake_s)]
        return self._sum(terms, "g_loss")

    def _sum(self, terms: List[Tensor], name: str) -> StepResult:
        """The levels' losses summed (each level's nets get their own level's gradient), each logged as
        ``NAME_k`` with k the level (0 finest, K the coarsest) and the sum as ``NAME``."""
        loss = torch.stack(terms).sum()
        logs: Dict[str, Tensor] = {name: loss.detach()}
        for k, t in enumerate(terms):
            logs[f"{name}_{k}"] = t.detach()
        return loss, logs

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def pyramid_picture(self, n: int = 6, seed: int = 0) -> Tensor:
        """For ``n`` samples (rows), the chain's image at every level from the coarsest to the finest, each
        enlarged to the image size (nearest neighbour) and clamped to [-1, 1]: ``(n * levels, C, H, W)``."""
        z = self.sample_z(n, generator=torch.Generator().manual_seed(seed))
        with eval_mode(self.G_ema if self.G_ema is not None else self.G) as G:
            images = G.images(z)
        return torch.stack([enlarge(im.float(), self.sizes[0]) for im in images], dim=1).flatten(0, 1)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``pyramid``: six samples, one row each, the chain's levels from coarse to fine (Denton et al., Fig. 3)."""
        return {"pyramid": (self.pyramid_picture(seed=seed), len(self.sizes))}


GANS.add("lapgan", LAPGAN)
