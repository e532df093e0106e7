"""BigGAN, Brock, Donahue & Simonyan 2018, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis", arXiv 1809.11096 -- class-conditional, composed from parts:

* ResNet G and D (:mod:`gankit.models.resnet`, the SNGAN / SAGAN line of Sec. 3), SN in both (Sec. 3, after
  Zhang et al.), optional self-attention (``model.attention``, the map size; the authors' CIFAR nets have none);
* a shared class embedding (``model.shared_dim``) and a hierarchical latent: z split into one chunk for G's
  linear layer and one per block, each block's batch norms conditioned on ``[z chunk, embedding(y)]`` through
  linear projections (:class:`~gankit.nn.conditioning.LinearConditionalBatchNorm`; Sec. 3 "shared
  embeddings", "hierarchical latent spaces", Appendix B, Fig. 15). ``model.hierarchical=false`` feeds the
  whole z to the linear layer and conditions the norms on the embedding only; ``model.shared_dim=0`` uses
  class-conditional batch norm with a table per layer (the projection-D paper's G);
* the projection discriminator (Miyato & Koyama 2018, :class:`~gankit.nn.ProjectionDiscriminator`), hinge loss;
* orthogonal regularisation of G (Sec. 3.1, Eq. 3, beta = 1e-4 by ``model.ortho``): the off-diagonal Gram
  penalty of :func:`gankit.penalties.weights.orthogonal_penalty` on every G weight except the shared embedding
  (as the authors' code);
* EMA of G's weights and two D steps per G step (Sec. 4 / Appendix C), in the preset (``train.ema``,
  ``train.n_critic``);
* the truncation trick at sampling (Sec. 3.1): ``gankit sample RUN --truncation T`` and ``gankit eval RUN
  --truncation T`` redraw every entry of z whose magnitude is above T (:func:`gankit.gans.base.truncate`).

The steps are the class-conditional ones of :class:`~gankit.gans.conditional.base.ConditionalGAN` (fakes
for the real batch's labels) with the orthogonal term added to G's loss.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...models.resnet import ResNetDiscriminator, ResNetGenerator
from ...nn import LayerFactory, ProjectionDiscriminator, init_weights
from ...penalties.weights import orthogonal_penalty
from .. import GANS
from ..base import StepResult
from ..conditional.base import ConditionalGAN


@dataclass
class BigGANParams:
    """``model.*`` for BigGAN."""

    z_dim: int = field(default=128, metadata=_rng(1))      # paper: 120 at 128x128 (6 chunks of 20)
    g_width: int = field(default=64, metadata=_rng(1))     # ch of G's blocks (authors' CIFAR G: 256)
    d_width: int = field(default=64, metadata=_rng(1))     # ch of D's blocks (authors' CIFAR D: 256)
    widen: bool = False                                    # channel pyramid (the 64x64+ nets)
    attention: int = field(default=0, metadata=_rng(0))    # self-attention map size (0: none)
    shared_dim: int = field(default=128, metadata=_rng(0))  # shared class embedding (0: a CBN table per layer)
    hierarchical: bool = True                              # z chunks to every block's norms
    ortho: float = field(default=1e-4, metadata=_rng(0.0))  # orthogonal regularisation of G (beta)
    g_sn: bool = True
    d_sn: bool = True


class BigGAN(ConditionalGAN):
    """Brock et al. 2018 (arXiv 1809.11096): shared embedding, hierarchical z, projection D, orthogonal
    regularisation, SN in G and D, EMA, 2 D steps per G step, truncation at sampling."""

    Params = BigGANParams
    default_objective = "hinge"

    def build(self, info):
        K, p = self.num_classes, self.p
        if K < 2:
            raise ConfigError(f"config: GAN '{self.cfg.gan}' is class-conditional and needs labelled data, "
                              f"but '{info.name}' has no class labels")
        if p.hierarchical and not p.shared_dim:
            raise ConfigError("config: model.hierarchical=true needs the shared embedding (model.shared_dim > 0)")
        if p.shared_dim:
            G = ResNetGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(sn=p.g_sn, act="relu"),
                                attention=p.attention, widen=p.widen, num_classes=K, shared_dim=p.shared_dim,
                                hierarchical=p.hierarchical)
        else:
            G = ResNetGenerator(p.z_dim, info.shape, p.g_width,
                                LayerFactory(sn=p.g_sn, norm="conditional", act="relu", classes=K),
                                attention=p.attention, widen=p.widen)
        d_factory = LayerFactory(sn=p.d_sn, act="relu")
        net = ResNetDiscriminator(info.shape, p.d_width, d_factory, attention=p.attention, widen=p.widen)
        init_weights(G, "ortho")  # BigGAN's orthogonal init (Sec. 4); the embeddings keep theirs
        init_weights(net, "ortho")
        return G, ProjectionDiscriminator(net, d_factory.embedding(K, net.feature_dim))

    def ortho_term(self) -> Tensor:
        """sum over G's weights but the shared embedding of ||W W^T * (1 - I)||_F^2."""
        G = self.G
        parts = [m for name, m in G.named_children() if name != "shared"]
        return orthogonal_penalty(nn.ModuleList(parts))

    def add_ortho(self, loss: Tensor, logs: dict) -> Tensor:
        """``loss + beta * ortho_term()`` (logged as ``ortho``); unchanged when ``model.ortho`` is 0."""
        if not self.p.ortho:
            return loss
        term = self.ortho_term()
        logs["ortho"] = term.detach()
        return loss + self.p.ortho * term

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        loss, logs = super().g_step(real, labels)
        return self.add_ortho(loss, logs), logs

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def truncation_grid(self, thresholds=(1.0, 0.7, 0.4), per: int = 4, seed: int = 0) -> Tuple[Tensor, int]:
        """One row per class: ``per`` samples at each truncation threshold in turn, side by side, the same noise
        seed for every threshold (Brock et al. 2018, Fig. 2 / 17): ``(images, images per row)``."""
        K = self.num_classes
        y = torch.arange(K, device=self.device).repeat_interleave(per)
        blocks = [self.sample_with_labels(len(y), seed=seed, labels=y, truncation=t)[0].view(K, per, *self.info.shape)
                  for t in thresholds]
        return torch.cat(blocks, 1).flatten(0, 1), per * len(thresholds)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``truncation``: every class at truncation 1.0, 0.7 and 0.4 (4 samples each), side by side."""
        return {"truncation": self.truncation_grid(seed=seed)}


GANS.add("biggan", BigGAN)
