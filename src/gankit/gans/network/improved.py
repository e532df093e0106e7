"""Improved GAN, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved Techniques for
Training GANs", arXiv 1606.03498.

DCGAN's nets and loss with the paper's techniques, each a part switched on by a setting:

* feature matching (Sec. 3.1, ``model.feature_matching``): G minimises ``|| E f(x) - E f(G(z)) ||^2`` over D's
  features f (the last feature map, before the output layer) instead of fooling D's output;
  :func:`gankit.objectives.feature_matching.feature_matching_loss`;
* minibatch discrimination (Sec. 3.2, ``model.minibatch`` = B kernels of ``model.minibatch_dim`` = C
  dimensions; 0 turns it off): D's output layer reads its features and B minibatch features,
  :class:`gankit.nn.MinibatchDiscrimination`;
* historical averaging (Sec. 3.3, ``model.historical`` = the weight, 0 off): each net's loss gets
  ``|| theta - mean of its past theta ||^2``, :class:`gankit.penalties.HistoricalAverage` (state in checkpoints);
* one-sided label smoothing (Sec. 3.4): the objective ``nonsaturating-ls`` (D's real target 0.9; the default
  here), ``objective=nonsaturating`` turns it off;
* virtual batch norm in G (Sec. 3.5, ``model.vbn``): G's batch norms normalise each sample with the statistics
  of a reference batch of ``model.vbn_size`` noise vectors drawn once from the run's seed (a buffer, in
  checkpoints), :mod:`gankit.nn.virtual_batchnorm`; false gives DCGAN's batch norm.

The paper's semi-supervised (K+1-class) D is the ``semisupervised-gan``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import Tensor

from ...config import _rng
from ...errors import ConfigError
from ...nn import WithReferenceBatch
from ...objectives.feature_matching import feature_matching_loss
from ...penalties import HistoricalAverage
from .. import GANS
from ..base import StepResult
from ..vanilla import ComposedGAN, NetParams


@dataclass
class ImprovedGANParams(NetParams):
    """``model.*`` for the Improved GAN: the composed GANs' net settings (DCGAN nets; ``g_norm`` is G's norm
    when ``vbn`` is off) and the five switches."""

    feature_matching: bool = False                                # Sec. 3.1: G's loss
    minibatch: int = field(default=100, metadata=_rng(0))         # Sec. 3.2: B kernels (0: off)
    minibatch_dim: int = field(default=5, metadata=_rng(1))       # C, dimensions per kernel
    historical: float = field(default=0.0, metadata=_rng(0.0))    # Sec. 3.3: weight (0: off)
    vbn: bool = True                                              # Sec. 3.5: virtual batch norm in G
    vbn_size: int = field(default=64, metadata=_rng(1))           # reference batch size


class ImprovedGAN(ComposedGAN):
    """Salimans et al. 2016 (arXiv 1606.03498): DCGAN with feature matching, minibatch discrimination,
    historical averaging, one-sided label smoothing and virtual batch norm as switches."""

    Params = ImprovedGANParams
    needs_images = True
    default_objective = "nonsaturating-ls"
    objectives = ("nonsaturating-ls", "nonsaturating", "minimax")
    objectives_why = "composes its techniques with the standard GAN loss"

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        w = self.p.historical
        self.hist_g = HistoricalAverage(list(self.G.parameters())) if w > 0 else None
        self.hist_d = HistoricalAverage(list(self.D.parameters())) if w > 0 else None

    def build(self, info):
        p = self.p
        if self.pick_arch(info, "dcgan") != "dcgan":
            raise ConfigError("config: GAN 'improved-gan' has DCGAN nets; model.arch must be dcgan or auto")
        G, D = self.dcgan_nets(info, g_norm="virtual" if p.vbn else None, minibatch=p.minibatch,
                               minibatch_dim=p.minibatch_dim)
        if p.vbn:  # the reference noise: drawn once from the run's seed, kept in the checkpoint
            gen = torch.Generator().manual_seed(int(self.cfg.seed or 0))
            G = WithReferenceBatch(G, torch.randn(p.vbn_size, p.z_dim, generator=gen))
        return G, D

    def historical_term(self, hist: Optional[HistoricalAverage], name: str, loss: Tensor, logs) -> Tensor:
        if hist is None:
            return loss
        term = hist.term()
        logs[name] = term.detach()
        return loss + self.p.historical * term

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        loss, logs = super().d_step(real, labels)  # the objective (label smoothing: nonsaturating-ls) + penalties
        return self.historical_term(self.hist_d, "hist_d", loss, logs), logs

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        fake = self.G(self.sample_z(real.shape[0]))
        if self.p.feature_matching:
            with torch.no_grad():  # the data's features are constants for G
                f_real = self.D.trunk(real)
            loss = feature_matching_loss(f_real, self.D.trunk(fake))
        else:
            d_real = self.D(real) if self.objective.g_needs_real else None
            loss = self.objective.g_loss(self.D(fake), d_real)
        logs = {"g_loss": loss.detach()}
        return self.historical_term(self.hist_g, "hist_g", loss, logs), logs


GANS.add("improved-gan", ImprovedGAN)
