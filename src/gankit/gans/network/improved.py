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

The switches belong to every composed GAN (:class:`~gankit.gans.vanilla.ComposedGAN`: ``dcgan``, ``lsgan``,
``wgan``, ``hinge-gan``, ...: e.g. ``gankit train lsgan model.minibatch=100 model.vbn=true``); ``improved-gan`` is
the one with the paper's combination on by default. The paper's semi-supervised (K+1-class) D is the
``semisupervised-gan``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...config import _rng
from ...errors import ConfigError
from .. import GANS
from ..vanilla import ComposedGAN, NetParams


@dataclass
class ImprovedGANParams(NetParams):
    """``model.*`` for the Improved GAN: the composed GANs' settings with the paper's combination switched on
    (minibatch discrimination and virtual batch norm; feature matching and historical averaging stay off)."""

    minibatch: int = field(default=100, metadata=_rng(0))
    vbn: bool = True


class ImprovedGAN(ComposedGAN):
    """Salimans et al. 2016 (arXiv 1606.03498): DCGAN with minibatch discrimination, one-sided label smoothing and
    virtual batch norm on, feature matching and historical averaging as switches (the steps: ComposedGAN's)."""

    Params = ImprovedGANParams
    needs_images = True
    default_objective = "nonsaturating-ls"
    objectives = ("nonsaturating-ls", "nonsaturating", "minimax")
    objectives_why = "composes its techniques with the standard GAN loss"

    def build(self, info):
        if self.pick_arch(info, "dcgan") != "dcgan":
            raise ConfigError("config: GAN 'improved-gan' has DCGAN nets; model.arch must be dcgan or auto")
        return super().build(info)


GANS.add("improved-gan", ImprovedGAN)
