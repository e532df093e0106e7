"""GANs that differ only in what they compose: networks x objective x penalties x optimiser.

``gan`` (Goodfellow et al. 2014, arXiv 1406.2661) uses MLP nets and ``dcgan`` (Radford et al. 2015,
arXiv 1511.06434) the DCGAN nets. The Div-family GANs below pick their architecture from the data
(MLP for 2-D mixtures, DCGAN for images, or ``model.arch``) and differ from each other only in their
default objective, penalties, constraints and optimiser settings, which live in their presets
``configs/<name>.yaml`` with the papers' values. None of them has step code of its own: the base
class's steps compose the objective with the penalties.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Tuple

import torch
from ..config import _rng
from ..errors import ConfigError
from ..models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ..nn import LayerFactory, init_dcgan
from . import GANS
from .base import GAN


@dataclass
class NetParams:
    """Architecture settings shared by the composed GANs (``model.*`` in the config)."""

    arch: Literal["auto", "mlp", "dcgan"] = "auto"
    z_dim: int = field(default=100, metadata=_rng(1))
    hidden: int = field(default=256, metadata=_rng(1))        # MLP width
    g_depth: int = field(default=3, metadata=_rng(1))         # MLP hidden layers
    d_depth: int = field(default=3, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))        # DCGAN base channels
    d_width: int = field(default=64, metadata=_rng(1))
    g_norm: Literal["batch", "layer", "none", "auto"] = "auto"      # auto: none for MLP, batch for DCGAN
    # auto: none for MLP; for DCGAN batch, or layer when a per-sample gradient penalty is on (see
    # GAN.check_per_sample)
    d_norm: Literal["batch", "instance", "layer", "none", "auto"] = "auto"
    d_sn: bool = False                                         # spectral norm on every D layer
    d_clip: Optional[float] = field(default=None, metadata=_rng(0.0, lo_open=True))  # WGAN weight clipping
    # Salimans et al. 2016's techniques (gankit.gans.network.improved has the paper's combination), off by default;
    # minibatch discrimination and virtual batch norm need the DCGAN nets
    feature_matching: bool = False                                # Sec. 3.1: G matches D's mean features
    minibatch: int = field(default=0, metadata=_rng(0))           # Sec. 3.2: B minibatch kernels in D (0: off)
    minibatch_dim: int = field(default=5, metadata=_rng(1))       # C, dimensions per kernel
    historical: float = field(default=0.0, metadata=_rng(0.0))    # Sec. 3.3: historical averaging weight (0: off)
    vbn: bool = False                                             # Sec. 3.5: virtual batch norm in G
    vbn_size: int = field(default=64, metadata=_rng(1))           # its reference batch size


class ComposedGAN(GAN):
    """Builds MLP or DCGAN nets from :class:`NetParams` (Radford's N(0, 0.02) init for DCGAN), with the Improved-GAN
    techniques as switches (Salimans et al. 2016, arXiv 1606.03498): feature matching (G's loss), minibatch
    discrimination (D's output layer), historical averaging (both losses; state in buffers), virtual batch norm
    (G's norms; the reference batch in the checkpoint). One-sided label smoothing is the objective
    ``nonsaturating-ls``. Each is a part (:mod:`gankit.nn.minibatch`, :mod:`gankit.nn.virtual_batchnorm`,
    :mod:`gankit.penalties.historical`, :mod:`gankit.objectives.feature_matching`), composed here."""

    Params = NetParams
    arch = "auto"

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        from ..penalties import HistoricalAverage

        w = self.p.historical
        self.hist_g = HistoricalAverage(list(self.G.parameters())) if w > 0 else None
        self.hist_d = HistoricalAverage(list(self.D.parameters())) if w > 0 else None

    def build(self, info):
        p = self.p
        arch = self.pick_arch(info, "dcgan") if self.arch == "auto" or p.arch != "auto" else self.arch
        if arch == "mlp":
            if p.minibatch or p.vbn or p.feature_matching:
                used = [k for k in ("minibatch", "vbn", "feature_matching") if getattr(p, k)]
                raise ConfigError(f"config: model.{used[0]} needs the DCGAN nets (model.arch=dcgan, image data)")
            g_norm = "none" if p.g_norm == "auto" else p.g_norm
            d_norm = "none" if p.d_norm == "auto" else p.d_norm
            G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(norm=g_norm, act="relu"),
                             tanh=info.kind == "images")
            D = MLPDiscriminator(info.shape, p.hidden, p.d_depth, LayerFactory(sn=p.d_sn, norm=d_norm, act="lrelu"))
            return G, D
        if p.minibatch and self.per_sample_penalties:
            raise ConfigError(f"config: penalty {', '.join(self.per_sample_penalties)} needs each sample's own gradient "
                              f"of D, but minibatch discrimination (model.minibatch) mixes the samples of a batch")
        G, D = self.dcgan_nets(info, g_norm="virtual" if p.vbn else None, minibatch=p.minibatch,
                               minibatch_dim=p.minibatch_dim)
        if p.vbn:  # the reference noise: drawn once from the run's seed, kept in the checkpoint
            from ..nn import WithReferenceBatch

            gen = torch.Generator().manual_seed(int(self.cfg.seed or 0))
            G = WithReferenceBatch(G, torch.randn(p.vbn_size, p.z_dim, generator=gen))
        return G, D

    def dcgan_nets(self, info, g_norm: Optional[str] = None, **d_options):
        """DCGAN's G and D from :class:`NetParams` with Radford's init; ``g_norm`` overrides G's norm and
        ``d_options`` go to :class:`DCGANDiscriminator` (e.g. the Improved GAN's minibatch discrimination)."""
        p = self.p
        g_norm = g_norm or ("batch" if p.g_norm == "auto" else p.g_norm)
        d_norm = ("layer" if self.per_sample_penalties else "batch") if p.d_norm == "auto" else p.d_norm
        G = DCGANGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(norm=g_norm, act="relu"))
        D = DCGANDiscriminator(info.shape, p.d_width, LayerFactory(sn=p.d_sn, norm=d_norm, act="lrelu"), **d_options)
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    # ------------------------------------------------------------ the steps, with the switches
    def historical_term(self, hist, name: str, loss, logs):
        """``loss + historical * ||theta - mean of past theta||^2`` for the net ``hist`` tracks (unchanged when off)."""
        if hist is None:
            return loss
        term = hist.term()
        logs[name] = term.detach()
        return loss + self.p.historical * term

    def d_step(self, real, labels):
        loss, logs = super().d_step(real, labels)  # the objective (label smoothing: nonsaturating-ls) + penalties
        return self.historical_term(self.hist_d, "hist_d", loss, logs), logs

    def g_step(self, real, labels):
        if not self.p.feature_matching:
            loss, logs = super().g_step(real, labels)
        else:
            from ..objectives.feature_matching import feature_matching_loss

            fake = self.G(self.sample_z(real.shape[0]))
            with torch.no_grad():  # the data's features are constants for G
                f_real = self.D.trunk(real)
            loss = feature_matching_loss(f_real, self.D.trunk(fake))
            logs = {"g_loss": loss.detach()}
        return self.historical_term(self.hist_g, "hist_g", loss, logs), logs

    def after_step(self, group: str) -> None:
        if group == "d" and self.p.d_clip is not None:
            from ..penalties.constraints import clip_weights_

            clip_weights_(self.D, self.p.d_clip)


def named(name: str, doc: str, *, arch: str = "auto", objective: str = "nonsaturating",
          objectives: Optional[Tuple[str, ...]] = None, needs_images: bool = False) -> type:
    """Register a composed GAN under ``name``; its paper settings live in ``configs/<name>.yaml``.
    ``objectives``: the only objectives the named GAN is (e.g. rgan: the three relativistic ones,
    not the relativistic-average ones); a name ending in '-' stands for a family (``fgan-``)."""

    def allowed(obj: str) -> bool:
        return any(obj == o or (o.endswith("-") and obj.startswith(o)) for o in objectives)

    @classmethod
    def validate(cls, cfg):
        GAN.validate.__func__(cls, cfg)
        obj = cfg.objective or cls.default_objective
        if objectives and not allowed(obj):
            raise ConfigError(f"config: GAN '{name}' uses objective {' or '.join(o + ('<divergence>' if o.endswith('-') else '') for o in objectives)}, "
                              f"got '{obj}'")

    cls = type(name.title().replace("-", ""), (ComposedGAN,), {
        "__doc__": doc, "arch": arch, "default_objective": objective, "needs_images": needs_images,
        "validate": validate, "__module__": __name__,
    })
    return GANS.add(name, cls)


named("gan", "Goodfellow et al. 2014 (arXiv 1406.2661): MLP G and D; objective minimax (saturating) or "
      "nonsaturating (default).", arch="mlp")
named("dcgan", "Radford et al. 2015 (arXiv 1511.06434): all-convolutional G and D with batch norm, N(0, 0.02) "
      "init, Adam(2e-4, beta1 0.5), z in R^100; resolution, width and channels are parameters.",
      arch="dcgan", needs_images=True)
named("lsgan", "Mao et al. 2016 (arXiv 1611.04076): least-squares losses, (a,b,c) = (0,1,1) or lsgan-chi2 "
      "(-1,1,0).", objective="lsgan", objectives=("lsgan", "lsgan-chi2"))
named("wgan", "Arjovsky et al. 2017 (arXiv 1701.07875): critic loss E D(G(z)) - E D(x), weights clipped to "
      "+-0.01, RMSProp 5e-5, n_critic 5.", objective="wgan")
named("wgan-gp", "Gulrajani et al. 2017 (arXiv 1704.00028): WGAN loss + 10 E(||grad D(x_hat)|| - 1)^2, no "
      "batch norm in the critic, Adam(1e-4, (0, 0.9)), n_critic 5.", objective="wgan")
named("dragan", "Kodali et al. 2017 (arXiv 1705.07215): non-saturating loss + 10 E(||grad D(x + delta)|| - 1)^2 "
      "around the data.")
named("fgan", "Nowozin et al. 2016 (arXiv 1606.00709): variational f-divergence; choose it with "
      "objective=fgan-<divergence> (tv, kl, reverse-kl, pearson, neyman, hellinger, jeffrey, js, gan).",
      objective="fgan-js", objectives=("fgan-",))
named("rgan", "Jolicoeur-Martineau 2018 (arXiv 1807.00734): relativistic losses on C(x_r) - C(x_f); "
      "objective rsgan (default), rlsgan or rhinge.", objective="rsgan", objectives=("rsgan", "rlsgan", "rhinge"))
named("ragan", "Jolicoeur-Martineau 2018 (arXiv 1807.00734): relativistic average losses; objective rasgan "
      "(default), ralsgan or rahinge.", objective="rasgan", objectives=("rasgan", "ralsgan", "rahinge"))
named("hinge-gan", "Lim & Ye 2017 (arXiv 1705.02894), Geometric GAN: hinge loss.", objective="hinge")
